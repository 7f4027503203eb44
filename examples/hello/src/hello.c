/* A tiny long-running program: writes its greeting to the file named on the command line
 * (or stdout), then waits to be stopped. The release patches GREETING. */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#define GREETING "hello from an unpatched release"

int main(int argc, char **argv) {
  FILE *out = argc > 1 ? fopen(argv[1], "w") : stdout;
  if (out == NULL) return 1;
  fprintf(out, "%s\n", GREETING);
  fflush(out);
  if (out != stdout) fclose(out);
  if (argc > 2) return 0; /* "hello FILE --once": exit after writing */
  for (;;) pause();
}
