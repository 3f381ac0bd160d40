#!/usr/bin/env bash
# Installs the Debian packages the test command needs (headless notebooks, Chromium, and
# statsmodels with pandas for the reference test under /usr/bin/python3, and the toolchain
# .ci/llama_tools.sh builds llama.cpp's tools with), when any is missing. Needs root and apt-get.
set -euo pipefail
need=()
[ -x /usr/bin/jupyter-nbconvert ] || need+=(jupyter-nbconvert)
/usr/bin/python3 -c 'import jupyter_client' 2>/dev/null || need+=(jupyter-client)
/usr/bin/python3 -c 'import nbclient' 2>/dev/null || need+=(python3-nbclient)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
/usr/bin/python3 -c 'import statsmodels' 2>/dev/null || need+=(python3-statsmodels)
/usr/bin/python3 -c 'import pandas' 2>/dev/null || need+=(python3-pandas)
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v git >/dev/null 2>&1 || need+=(git)
command -v c++ >/dev/null 2>&1 || need+=(g++)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "Cannot run the tests: Debian packages ${need[*]} are missing and this user cannot apt-get install them; install them and run again" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "installed Debian packages: ${need[*]}"
