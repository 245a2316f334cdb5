#!/usr/bin/env bash
# Installs what zdm needs to build and test, on Debian 12, only where it is missing.
set -euo pipefail

packages=(
  postgresql-15 postgresql-server-dev-15 postgresql-contrib
  postgresql-15-pgaudit
  g++ make cmake libfmt-dev libgtest-dev
  libipc-run-perl
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "deps: installing ${missing[*]}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# Debian's postgresql-common would create and start a 'main' cluster; we use our own scratch servers.
if [ ! -e /etc/postgresql-common/createcluster.conf ] || ! grep -q '^create_main_cluster = false' /etc/postgresql-common/createcluster.conf; then
  $sudo mkdir -p /etc/postgresql-common
  echo 'create_main_cluster = false' | $sudo tee -a /etc/postgresql-common/createcluster.conf >/dev/null
fi
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
