#!/bin/sh
# exec_nsupdate.sh: a hook for certfleet's exec provider (lego's exec convention)
# that writes TXT values with nsupdate (RFC 2136, TSIG) into a BIND zone, as an
# operator's own script would. Used by tests/integration/test_providers_exec.py
# against the lab's rfc-alias.test.
#
#   exec_nsupdate.sh present FQDN. VALUE     adds one TXT value (others stay)
#   exec_nsupdate.sh cleanup FQDN. VALUE     deletes exactly that value
#
# Settings arrive in the environment (certfleet passes --provider-setting k=v as
# CERTFLEET_SETTING_<K>): SERVER (address of the primary, required), ZONE
# (required), TSIG_NAME, TSIG_SECRET (base64; both required), TSIG_ALGORITHM
# (default hmac-sha256), TTL (default 60). The TSIG secret is handed to nsupdate
# on its stdin, never on a command line. nsupdate's own error ("update failed:
# REFUSED", "tsig verify failure") goes to stderr, which certfleet reports.
set -eu

if [ $# -ne 3 ]; then
	echo "usage: $0 present|cleanup FQDN VALUE" >&2
	exit 2
fi
action=$1 fqdn=$2 value=$3

: "${CERTFLEET_SETTING_SERVER:?setting server is required}"
: "${CERTFLEET_SETTING_ZONE:?setting zone is required}"
: "${CERTFLEET_SETTING_TSIG_NAME:?setting tsig_name is required}"
: "${CERTFLEET_SETTING_TSIG_SECRET:?setting tsig_secret is required}"
alg=${CERTFLEET_SETTING_TSIG_ALGORITHM:-hmac-sha256}
ttl=${CERTFLEET_SETTING_TTL:-60}

# ACME values are base64url; anything else would need quoting in nsupdate's input.
case $value in
*[!A-Za-z0-9_-]* | '')
	echo "value must be base64url" >&2
	exit 2
	;;
esac

case $action in
present) op="update add $fqdn $ttl TXT \"$value\"" ;;
cleanup) op="update delete $fqdn TXT \"$value\"" ;;
*)
	echo "unknown action: $action (present or cleanup)" >&2
	exit 2
	;;
esac

printf 'server %s\nzone %s\nkey %s:%s %s\n%s\nsend\n' \
	"$CERTFLEET_SETTING_SERVER" "$CERTFLEET_SETTING_ZONE" "$alg" \
	"$CERTFLEET_SETTING_TSIG_NAME" "$CERTFLEET_SETTING_TSIG_SECRET" "$op" |
	nsupdate -t 5
