#!/usr/bin/env bash
# Builds llama.cpp's llama-server and llama-quantize from the exact source that node-llama-cpp
# bundles (llama/gitRelease.bundle), once per source commit, into a cache outside the clone
# ($TOKENTRACE_CACHE, default $HOME/.cache/tokentrace), so later runs on the same machine reuse
# them. Prints the folder holding the binaries on stdout; build output goes to stderr.
# Needs git, cmake and a C++ compiler (all on the project's machine kind). Run after `deno install`.
set -euo pipefail
cd "$(dirname "$0")/.."
bundle=$(ls node_modules/.deno/node-llama-cpp@*/node_modules/node-llama-cpp/llama/gitRelease.bundle 2>/dev/null | head -n 1)
if [ -z "$bundle" ]; then
  echo "Cannot build llama.cpp tools: node-llama-cpp's llama/gitRelease.bundle is missing; run deno install first" >&2
  exit 1
fi
commit=$(git bundle list-heads "$bundle" | awk '$2 == "HEAD" { print substr($1, 1, 7) }')
cache="${TOKENTRACE_CACHE:-$HOME/.cache/tokentrace}"
src="$cache/src-$commit"
bin="$src/build/bin"
mkdir -p "$cache"
exec 9>"$cache/.build-$commit.lock"
flock 9
if [ -x "$bin/llama-server" ] && [ -x "$bin/llama-quantize" ]; then
  echo "$bin"
  exit 0
fi
if [ ! -f "$src/CMakeLists.txt" ]; then
  rm -rf "$src.tmp" "$src"
  git clone -q "$bundle" "$src.tmp" 2>/dev/null
  mv "$src.tmp" "$src"
fi
echo "building llama-server and llama-quantize from node-llama-cpp's bundled llama.cpp ($commit) into $src/build (about 10 minutes on 2 cores, once)" >&2
cmake -S "$src" -B "$src/build" -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF \
  -DLLAMA_BUILD_SERVER=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_TESTS=OFF \
  -DLLAMA_BUILD_EXAMPLES=OFF >&2
cmake --build "$src/build" -j"$(nproc)" --target llama-server llama-quantize >&2
echo "$bin"
