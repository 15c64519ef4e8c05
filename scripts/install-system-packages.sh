#!/usr/bin/env bash
# Installs the Debian packages the tests need, when missing: dicom3tools (dciodvfy),
# dcmtk (dcmdump), chromium (the browser test) and tesseract-ocr with its English data
# (burned-in text; hipaa_lab.deid.pixels), bubblewrap (bwrap: the sandbox learner code is
# graded in; hipaa_lab.course.sandbox), and the fonts the pixel tests draw banners in
# (DejaVu for Latin with diacritics, IPA Gothic for Japanese), and PostgreSQL's server (the
# ledger's tests run against a real server they start: tests/_postgres.py), and poppler-utils
# (pdftoppm: the records export test renders a certificate to an image), and npm (the Makefile
# installs JupyterHub's configurable-http-proxy with it for `make hub` and its tests), and mtools
# (FAT disk images of a USB stick without mounting: hipaa_lab.safeguards.media).
set -euo pipefail
declare -A wanted=([bwrap]=bubblewrap [dciodvfy]=dicom3tools [dcmdump]=dcmtk [chromium]=chromium [tesseract]="tesseract-ocr tesseract-ocr-eng" [pdftoppm]=poppler-utils [npm]=npm [mformat]=mtools)
missing=()
for cmd in "${!wanted[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=(${wanted[$cmd]})
done
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
for font in fonts-dejavu-core fonts-ipafont-gothic; do
    dpkg-query -W -f='${Status}' "$font" 2>/dev/null | grep -q "install ok installed" || missing+=("$font")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "installing Debian packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
