#!/bin/sh
# libnice and libsofia-sip-ua both export stun_message_length. When sofia
# is loaded first, libnice's own calls bind to sofia's function and the
# media worker crashes validating the first STUN check from a browser. This
# checks that every given binary loads libnice before libsofia-sip-ua.
status=0
for bin in "$@"; do
	order=$(ldd "$bin" | awk '/libnice\.so/ {print "nice"} /libsofia-sip-ua\.so/ {print "sofia"}' | head -n 1)
	if [ "$order" = "sofia" ]; then
		echo "FAIL: $bin loads libsofia-sip-ua before libnice (stun_message_length clash)"
		status=1
	else
		echo "ok: $bin"
	fi
done
exit $status
