#!/bin/sh
# Makes the hello release in OUTDIR: the source tarball (from src/), the patch and software.cfg
# carrying both checksums. Usage: make-release.sh OUTDIR
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=$1
mkdir -p "$out/hello-1.0"
cp "$here/src/hello.c" "$here/src/configure" "$here/src/Makefile" "$out/hello-1.0/"
tar -C "$out" -czf "$out/hello-1.0.tar.gz" hello-1.0
rm -rf "$out/hello-1.0"
cp "$here/greeting.patch" "$out/greeting.patch"
tsum=$(sha256sum "$out/hello-1.0.tar.gz" | cut -d' ' -f1)
psum=$(sha256sum "$out/greeting.patch" | cut -d' ' -f1)
sed -e "s/@HELLO_SHA256@/$tsum/" -e "s/@PATCH_SHA256@/$psum/" "$here/software.cfg.in" > "$out/software.cfg"
echo "$out/software.cfg"
