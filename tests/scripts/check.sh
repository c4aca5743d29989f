# SPDX-License-Identifier: MIT OR Apache-2.0
#
# tests/scripts/check.sh: the one helper the script tests share. Source it, then
#     check "what is checked" COMMAND ARGS...   # counts and prints `ok ...` or `FAILED ...`
#     finish                                    # prints `N passed, N failed`; fails if any did
passed=0
failed=0
check() {
    local what="$1"
    shift
    if "$@"; then
        passed=$((passed + 1))
        echo "ok $what"
    else
        failed=$((failed + 1))
        echo "FAILED $what"
    fi
}
finish() {
    echo "$passed passed, $failed failed"
    ((failed == 0))
}
