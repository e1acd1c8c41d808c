#!/usr/bin/env bash
# Installs every Debian 12 package needed to build sessionarchiver, run its
# tests and its demo. Idempotent: apt is only called when something is
# missing, and `apt-get update` runs once, then. Run as root (or via sudo).
set -euo pipefail

packages=(
	# build
	make gcc libc6-dev pkg-config
	libfuse3-dev libarchive-dev libsqlite3-dev libcurl4-openssl-dev
	default-libmysqlclient-dev libpq-dev libinih-dev libexpat1-dev libssl-dev
	libjansson-dev zlib1g-dev
	# run
	fuse3 php-cli php-mysql php-pgsql ca-certificates
	# tests and demo: real servers, the fake Moodle site, test runners
	libcmocka-dev python3 python3-pytest python3-aiosmtpd python3-pymysql
	mariadb-server mariadb-client postgresql python3-psycopg2
	attr openssl sqlite3 procps groff-base man-db
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
		grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "install-deps: all ${#packages[@]} packages present"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing ${missing[*]}; run as root" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
