#!/usr/bin/env bash
# What the network-namespace mode (pytest --sockharness-netns) needs on a CI machine: the nft command,
# from Debian/Ubuntu's nftables package. Called by .ci/run before the Python environment is built.
#
# It installs a package and nothing else: it loads no rules and starts no service (Debian ships
# nftables.service disabled), so the host's ruleset stays as it was. The mode itself only ever
# writes rules inside a private network namespace.
set -euo pipefail

if command -v nft >/dev/null 2>&1; then
    echo "netns: $(nft --version) already installed"
else
    if [ "$(id -u)" -eq 0 ]; then
        as_root=()
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        as_root=(sudo -n)
    else
        echo "netns: nft is missing and this user cannot install packages (not root, no sudo);" \
            "netns-marked tests will fail under CI" >&2
        exit 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "netns: nft is missing and there is no apt-get; install the nftables package by hand" >&2
        exit 1
    fi
    ${as_root[@]+"${as_root[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    ${as_root[@]+"${as_root[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nftables
    echo "netns: installed $(nft --version)"
fi

# Report (do not fail on) whether this machine lets a process create a network namespace: the tests
# themselves fail under CI with the exact reason when it does not.
if command -v unshare >/dev/null 2>&1; then
    if unshare --net true 2>/dev/null; then
        echo "netns: unshare(CLONE_NEWNET) permitted"
    else
        echo "netns: unshare(CLONE_NEWNET) refused here (needs root / CAP_SYS_ADMIN)" >&2
    fi
fi
