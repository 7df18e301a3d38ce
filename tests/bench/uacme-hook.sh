#!/bin/sh
# uacme challenge hook for the benchmark (tests/bench/run): answers dns-01 through a
# challenge alias. The name _acme-challenge.IDENT is a static CNAME to
# IDENT.$BENCH_ALIAS_ZONE, so the TXT value is written there with nsupdate (RFC 2136,
# TSIG) on "begin" and removed again on "done" or "failed". Other challenge types are
# declined (exit 1), as uacme expects.
#   uacme-hook.sh METHOD TYPE IDENT TOKEN AUTH
# Environment: BENCH_DNS_SERVER (the alias zone's primary), BENCH_TSIG
# (ALGORITHM:NAME:SECRET, as nsupdate -y takes it), BENCH_ALIAS_ZONE (e.g. rfc-alias.test).
[ $# -eq 5 ] || { echo "usage: $0 method type ident token auth" >&2; exit 85; }
method=$1 type=$2 ident=${3#\*.} auth=$5
[ "$type" = dns-01 ] || exit 1
: "${BENCH_DNS_SERVER:?}" "${BENCH_TSIG:?}" "${BENCH_ALIAS_ZONE:?}"
target="$ident.$BENCH_ALIAS_ZONE."
case $method in
begin) op="update add $target 60 TXT \"$auth\"" ;;
done | failed) op="update delete $target TXT \"$auth\"" ;;
*) exit 1 ;;
esac
printf 'server %s\nzone %s.\n%s\nsend\n' "$BENCH_DNS_SERVER" "$BENCH_ALIAS_ZONE" "$op" |
  nsupdate -y "$BENCH_TSIG"
