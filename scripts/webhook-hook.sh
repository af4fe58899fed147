#!/bin/sh
# webhook-hook.sh - example on_ban / on_unban hook for dosips(8): tells a
# chat channel, a web service or a mailbox about each ban.
#
# In /etc/dosips/dosips.conf (arguments are separated by blanks, no shell):
#   on_ban   = /usr/local/libexec/dosips/webhook-hook.sh https://hooks.slack.com/services/T/B/X
#   on_unban = /usr/local/libexec/dosips/webhook-hook.sh https://discord.com/api/webhooks/1/x discord
#   on_ban   = /usr/local/libexec/dosips/webhook-hook.sh ops@example.org mail
#
# Usage: webhook-hook.sh [URL|ADDRESS] [slack|discord|json|mail]
#   slack    posts {"text": "..."}   (Slack, Mattermost, Rocket.Chat)
#   discord  posts {"content": "..."}
#   json     posts the event's JSON line as it is (your own service)
#   mail     mails ADDRESS through sendmail(8)
# The format defaults to discord for discord.com URLs, mail for an address
# with an @ and no scheme, else slack. The URL may instead come from the
# environment, DOSIPS_WEBHOOK_URL (Environment= in dosips.service), which
# keeps a secret URL out of the process list and the configuration.
#
# dosips passes the event in DOSIPS_EVENT, DOSIPS_SRC, DOSIPS_KIND,
# DOSIPS_TS, DOSIPS_DURATION, DOSIPS_OFFENCES, DOSIPS_REASON and its JSON
# line on standard input, and kills the hook after hook_timeout (5 s by
# default): curl is given a little less.
set -eu

target=${1:-${DOSIPS_WEBHOOK_URL:-}}
format=${2:-}
max_time=${DOSIPS_WEBHOOK_TIMEOUT:-4}

if [ -z "$target" ]; then
	echo "webhook-hook.sh: no URL (argument or DOSIPS_WEBHOOK_URL)" >&2
	exit 2
fi
if [ -z "$format" ]; then
	case $target in
	https://discord.com/*|https://discordapp.com/*) format=discord ;;
	*://*) format=slack ;;
	*@*) format=mail ;;
	*) format=slack ;;
	esac
fi

line=$(cat)
host=$(uname -n)

# The sentence a person reads.
case ${DOSIPS_EVENT:-} in
ban)
	text="banned ${DOSIPS_SRC:-?} for ${DOSIPS_DURATION:-?}s (${DOSIPS_KIND:-?}, offence ${DOSIPS_OFFENCES:-?})" ;;
unban)
	text="lifted the ban on ${DOSIPS_SRC:-?} (${DOSIPS_REASON:-expired})" ;;
*)
	text="${DOSIPS_EVENT:-event}: ${DOSIPS_SRC:-?} (${DOSIPS_KIND:-?})" ;;
esac
text="dosips on $host: $text at ${DOSIPS_TS:-now}"

# Escapes a string for a JSON string literal (backslash, quote, controls).
json_escape() {
	printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' | tr -d '\000-\037'
}

post() { # BODY
	printf '%s\n' "$1" | curl --fail --silent --show-error --max-time "$max_time" \
		-H 'Content-Type: application/json' --data-binary @- "$target"
}

case $format in
slack)   post "{\"text\":\"$(json_escape "$text")\"}" ;;
discord) post "{\"content\":\"$(json_escape "$text")\"}" ;;
json)    post "$line" ;;
mail)
	{
		printf 'To: %s\nSubject: %s\n\n%s\n\n%s\n' "$target" "$text" "$text" "$line"
	} | sendmail -t ;;
*)
	echo "webhook-hook.sh: unknown format $format (slack, discord, json, mail)" >&2
	exit 2 ;;
esac
