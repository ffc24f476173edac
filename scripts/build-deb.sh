#!/usr/bin/env bash
# `make deb`: dist/imagebuildd_<version>_<arch>.deb with dpkg-deb, from the static release build:
# the stripped binary in /usr/bin, the unit, journald catalog, sysusers.d entry, man pages (the
# argument parser's generate-manual plugin), bash/zsh/fish completions, examples and maintainer scripts.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build-release.sh
bin=$(swift build -c release --show-bin-path)/imagebuildd
version=$("$bin" --version)
arch=$(dpkg --print-architecture)
# Man pages from the same command tree (the debug build `make test` already made is enough).
swift package plugin generate-manual --configuration debug --multi-page --section 8 \
    --date "$(git log -1 --format=%cs 2>/dev/null || date +%F)" --authors "imagebuildd developers" >/dev/null
pages=.build/plugins/GenerateManual/outputs/BuildDaemon

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/imagebuildd_${version}_${arch}
install -d -m 0755 "$root/DEBIAN" "$root/usr/bin" "$root/usr/lib/systemd/system" "$root/usr/lib/systemd/catalog" \
    "$root/usr/lib/sysusers.d" "$root/usr/share/man/man8" "$root/usr/share/doc/imagebuildd/examples" \
    "$root/usr/share/bash-completion/completions" "$root/usr/share/zsh/vendor-completions" "$root/usr/share/fish/vendor_completions.d"
strip --strip-unneeded --remove-section=.comment --remove-section=.note -o "$root/usr/bin/imagebuildd" "$bin"
chmod 0755 "$root/usr/bin/imagebuildd"
sed 's|/usr/local/bin/imagebuildd|/usr/bin/imagebuildd|g' packaging/systemd/imagebuildd.service > "$root/usr/lib/systemd/system/imagebuildd.service"
install -m 0644 packaging/systemd/imagebuildd.catalog "$root/usr/lib/systemd/catalog/imagebuildd.catalog"
install -m 0644 packaging/systemd/imagebuildd.sysusers "$root/usr/lib/sysusers.d/imagebuildd.conf"
install -m 0644 packaging/systemd/config.yaml "$root/usr/share/doc/imagebuildd/examples/config.yaml"
install -m 0644 packaging/systemd/cluster.yaml "$root/usr/share/doc/imagebuildd/examples/cluster.yaml"
install -m 0644 packaging/prometheus/imagebuildd.rules.yml "$root/usr/share/doc/imagebuildd/examples/imagebuildd.rules.yml"
install -D -m 0644 packaging/grafana/imagebuildd.json "$root/usr/share/imagebuildd/grafana/imagebuildd.json"
install -m 0644 packaging/debian/copyright "$root/usr/share/doc/imagebuildd/copyright"
install -D -m 0644 packaging/debian/lintian-overrides "$root/usr/share/lintian/overrides/imagebuildd"
# A subcommand's page is imagebuildd.SUB(8): its NAME must say so for whatis/apropos, while its
# synopsis keeps the command as typed; a blank line in mdoc is a paragraph break (.Pp).
for page in "$pages"/*.8; do
    name=$(basename "$page" .8)
    awk -v page="$name" '
        /^\.Nm "/ && !named { typed = substr($0, 5); print ".Nm " page; named = 1; next }
        /^\.Nm$/ && typed != "" { print ".Nm " typed; next }
        /^$/ { print ".Pp"; next }
        { print }' "$page" | gzip -9n > "$root/usr/share/man/man8/$name.8.gz"
done
chmod 0644 "$root"/usr/share/man/man8/*
# Sourced, not run: no #! line.
"$bin" --generate-completion-script bash | sed '1{/^#!/d}' > "$root/usr/share/bash-completion/completions/imagebuildd"
"$bin" --generate-completion-script zsh > "$root/usr/share/zsh/vendor-completions/_imagebuildd"
"$bin" --generate-completion-script fish > "$root/usr/share/fish/vendor_completions.d/imagebuildd.fish"
chmod 0644 "$root"/usr/share/*/completions/imagebuildd "$root"/usr/share/zsh/vendor-completions/_imagebuildd \
    "$root"/usr/share/fish/vendor_completions.d/imagebuildd.fish
printf 'imagebuildd (%s) unstable; urgency=medium\n\n  * Release %s; see /usr/share/doc/imagebuildd/examples.\n\n -- imagebuildd developers <imagebuildd@example.org>  %s\n' \
    "$version" "$version" "$(date -R -d "@$(git log -1 --format=%ct 2>/dev/null || date +%s)")" | gzip -9n > "$root/usr/share/doc/imagebuildd/changelog.gz"
chmod 0644 "$root/usr/share/doc/imagebuildd/changelog.gz"
for script in postinst prerm postrm; do install -m 0755 "packaging/debian/$script" "$root/DEBIAN/$script"; done
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
# What the binary links dynamically (ldd above: libc, libstdc++, libgcc, zlib, libsystemd), plus what
# it reads at run time: the CA bundle and the time zone database.
cat > "$root/DEBIAN/control" <<CONTROL
Package: imagebuildd
Version: $version
Architecture: $arch
Maintainer: imagebuildd developers <imagebuildd@example.org>
Installed-Size: $size
Depends: libc6 (>= 2.36), libgcc-s1 (>= 3.0), libstdc++6 (>= 12), libsystemd0 (>= 252), zlib1g (>= 1:1.2.0), ca-certificates, tzdata, systemd
Section: admin
Priority: optional
Homepage: https://github.com/imagebuildd/imagebuildd
Description: keeps Azure VM Image Builder golden images rebuilt on a schedule
 imagebuildd is a systemd daemon that runs each Azure VM Image Builder template
 on its own time-zone-aware cron schedule, follows every build to its end,
 cancels builds that overrun their timeout and records every step in a
 crash-safe journal, so that after a crash it resumes its runs and never
 triggers a slot twice. It exports Prometheus metrics, detects stale images
 and notifies webhooks; operators use imagebuildd status, trigger, pause,
 resume and cancel.
CONTROL
mkdir -p dist
dpkg-deb --root-owner-group -Zxz --build "$root" "dist/imagebuildd_${version}_${arch}.deb" >/dev/null
echo "dist/imagebuildd_${version}_${arch}.deb"
