// slapctl: the command line for people — ledger verification, replay and dumps, the demo, and
// (as the master grows) requests, supply and billing.
#include <cstdio>

#include "slapd/ctl/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"slapctl — command line for the slapledger master and its ledger"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every command");
  slap::ctl::add_ledger_commands(app);
  slap::ctl::add_demo_command(app);
  slap::ctl::add_people_commands(app);
  slap::ctl::add_billing_commands(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : slap::ctl::kExitError;
  }
  return slap::ctl::g_exit_code;
}
