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
#
# `install-system-packages.sh demo` installs only what `make demo` needs: bubblewrap (the demo
# autogrades its learners, and learner code is graded only inside the sandbox) and tesseract
# (the de-identifier reads text burned into pixels with it).
set -euo pipefail
declare -A wanted=([bwrap]=bubblewrap [tesseract]="tesseract-ocr tesseract-ocr-eng")
if [ "${1:-}" != demo ]; then
    wanted+=([dciodvfy]=dicom3tools [dcmdump]=dcmtk [chromium]=chromium [pdftoppm]=poppler-utils [npm]=npm [mformat]=mtools)
fi
missing=()
for cmd in "${!wanted[@]}"; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=(${wanted[$cmd]})
done
if [ "${1:-}" != demo ]; then
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
    for font in fonts-dejavu-core fonts-ipafont-gothic; do
        dpkg-query -W -f='${Status}' "$font" 2>/dev/null | grep -q "install ok installed" || missing+=("$font")
    done
fi
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "missing Debian packages: ${missing[*]}" >&2
        echo "install them as root (apt-get install ${missing[*]}), or run this again with sudo" >&2
        exit 1
    fi
    sudo="sudo"
fi
echo "installing Debian packages: ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
