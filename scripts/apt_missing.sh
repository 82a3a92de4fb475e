# Sourced by the set-up scripts: apt_install_missing PKG... installs those of the Debian
# packages that are not installed yet (nothing when all are), as root or through sudo.
apt_install_missing() {
  local sudo="" missing=() p
  if [ "$(id -u)" != "0" ]; then sudo="sudo"; fi
  for p in "$@"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
      missing+=("$p")
    fi
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}"
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
  fi
}
