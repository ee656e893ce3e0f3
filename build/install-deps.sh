#!/bin/sh
# Installs the Debian packages llmgw needs to build, test and run, once:
# nothing is done when every package is already installed.
set -e
PKGS="apache2 apache2-dev libcurl4-openssl-dev libjansson-dev libmemcached-dev
      libssl-dev memcached libapache2-mod-perl2 libwww-perl libjson-pp-perl
      check pkg-config nodejs npm curl prometheus libaprutil1-dbd-sqlite3
      libaprutil1-dbd-pgsql postgresql sqlite3 clang libclang-rt-dev"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing="$missing $p"
done
# node/npm may come from elsewhere than Debian (e.g. a preinstalled Node).
case " $missing " in *" nodejs "*) command -v node >/dev/null && missing=$(echo "$missing" | sed 's/ nodejs//');; esac
case " $missing " in *" npm "*) command -v npm >/dev/null && missing=$(echo "$missing" | sed 's/ npm//');; esac
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
    echo "llmgw: missing Debian packages:$missing (run as root to install them)" >&2
    exit 1
fi
echo "llmgw: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# prometheus is here for promtool only (t/metrics.t checks the exposition):
# its server must not start on installation, so service starts are refused
# while apt runs unless the machine already has a policy of its own.
policy=""
case " $missing " in *" prometheus "*)
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        policy=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 755 "$policy"
        trap 'rm -f "$policy"' EXIT
    fi;;
esac
apt-get update -q >/dev/null
apt-get install -y -q --no-install-recommends $missing >/dev/null
