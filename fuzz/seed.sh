#!/usr/bin/env bash
# Builds fuzz/corpus/<target>/ seeds from real git traffic and objects (deterministic repos).
# Usage: fuzz/seed.sh [path-to-sluice]   (default: target/release/sluice)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
sluice=${1:-$top/target/release/sluice}
c=$top/fuzz/corpus
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
bash "$top/tests/fixtures/branches.sh" "$tmp/src.git"
mkdir -p "$c"/{pktline,v0_lines,v2_request,daemon_request,ssh_command,cgi_request,ref_name,pack_stream,delta_apply,objects,idx,upload_pack,receive_commands,config_files}
# Capture what git clients send to upload-pack and receive-pack.
cat > "$tmp/tee-up" <<WRAP
#!/bin/sh
tee "$tmp/cap.\$\$" | "$sluice" upload-pack "\$1"
WRAP
cat > "$tmp/tee-rp" <<WRAP
#!/bin/sh
tee "$tmp/rcap.\$\$" | "$sluice" receive-pack "\$1"
WRAP
chmod +x "$tmp/tee-up" "$tmp/tee-rp"
for v in 0 1 2; do
  git -c protocol.version=$v clone -q --no-local --upload-pack="$tmp/tee-up" "file://$tmp/src.git" "$tmp/c$v"
  git -c protocol.version=$v ls-remote --upload-pack="$tmp/tee-up" "file://$tmp/src.git" >/dev/null
  git -c protocol.version=$v clone -q --no-local --depth=1 --upload-pack="$tmp/tee-up" "file://$tmp/src.git" "$tmp/s$v"
done
git -C "$tmp/c0" commit -q --allow-empty -m new --author="A <a@b>" -c user.name=A -c user.email=a@b 2>/dev/null || \
  git -C "$tmp/c0" -c user.name=A -c user.email=a@b commit -q --allow-empty -m new
git -C "$tmp/c0" push -q --receive-pack="$tmp/tee-rp" origin main main:refs/heads/new
git -C "$tmp/c1" -c protocol.version=0 fetch -q --upload-pack="$tmp/tee-up" origin
i=0
for f in "$tmp"/cap.*; do
  i=$((i+1))
  cp "$f" "$c/pktline/client-$i"
  cp "$f" "$c/v2_request/client-$i"
  { printf '\000'; cat "$f"; } > "$c/upload_pack/v0-$i"
  { printf '\002'; cat "$f"; } > "$c/upload_pack/v2-$i"
done
i=0
for f in "$tmp"/rcap.*; do i=$((i+1)); cp "$f" "$c/pktline/push-$i"; done
# Packs, indexes and objects.
git -C "$tmp/src.git" rev-list --objects --all | cut -c1-40 | \
  git -C "$tmp/src.git" pack-objects -q --delta-base-offset "$tmp/p" >/dev/null
cp "$tmp"/p-*.pack "$c/pack_stream/ofs.pack"
cp "$tmp"/p-*.idx "$c/idx/v2.idx"
git -C "$tmp/src.git" rev-list --objects --all | cut -c1-40 | \
  git -C "$tmp/src.git" pack-objects -q --stdout > "$c/pack_stream/ref.pack"
for t in commit tree tag; do
  id=$(git -C "$tmp/src.git" cat-file --batch-all-objects --batch-check | awk -v t=$t '$2==t{print $1; exit}')
  [ -n "$id" ] && git -C "$tmp/src.git" cat-file $t "$id" > "$c/objects/$t" || true
done
printf 'want 0123456789012345678901234567890123456789 multi_ack side-band-64k\nhave 0123456789012345678901234567890123456789\ndone\ndeepen 3\nfilter blob:limit=1k\n' > "$c/v0_lines/seed"
printf 'git-upload-pack /r.git\0host=example.com:9418\0\0version=2\0' > "$c/daemon_request/seed"
printf "git-upload-pack 'it'\\\\''s.git'" > "$c/ssh_command/seed"
printf 'GET\n/r.git/info/refs\nservice=git-upload-pack\n\n\n\nversion=2\n\n' > "$c/cgi_request/info-refs"
printf 'POST\n/a/b.git/git-receive-pack\n\napplication/x-git-receive-pack-request\n12\n\n\nalice\n0000PACK' > "$c/cgi_request/push-length"
printf 'GET\n/../r.git/HEAD\n%%zz&service\n\n-1\nx-gzip\n\n\n' > "$c/cgi_request/dotdot"
printf 'refs/heads/feature/x' > "$c/ref_name/seed"
printf '\003abc\003\003\221\000\003\001x' > "$c/delta_apply/seed"
printf '0000000000000000000000000000000000000000 1111111111111111111111111111111111111111 refs/heads/a\0report-status\n' > "$c/receive_commands/seed"
cp "$tmp/src.git/config" "$c/config_files/git-config"
printf 'group devs = a b\nrepo x/* \n  RW+ refs/heads/* = @devs\n' > "$c/config_files/access"
echo "seeds written to $c"
