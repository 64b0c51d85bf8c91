#!/bin/sh
# Starts the workspace IDE. Theia's configuration directory is on a writable mount (the pod's
# scratch home): it is seeded on every start with Coditect's chat agent from the image and then
# with what the platform mounted at CODITECT_THEIA_SETTINGS (the workspace's settings Secret:
# settings.json, and prompt-templates/... when the Secret projects them there). Theia writes to
# its configuration directory (recent workspaces, settings changed in the UI), so it cannot be
# the read-only Secret mount itself.
set -eu

app="${CODITECT_IDE_DIR:-/opt/coditect-ide}"
config="${THEIA_CONFIG_DIR:?THEIA_CONFIG_DIR must be set}"
settings="${CODITECT_THEIA_SETTINGS:-/etc/coditect/theia}"

mkdir -p "$config"
cp -R "$app/prompt-templates" "$config/"
if [ -d "$settings" ]; then
  # Visible entries only: a Secret volume also holds ..data and timestamped dot-directories,
  # and its files are symlinks (-L copies what they point to).
  for entry in "$settings"/*; do
    if [ -e "$entry" ]; then cp -RL "$entry" "$config/"; fi
  done
fi

# A Secret's files are read-only (0440/0444); the copies must not be, or settings changed in the
# UI could not be saved.
chmod -R u+w "$config"

exec node "$app/lib/backend/main.js" \
  --hostname "${CODITECT_IDE_HOST:-0.0.0.0}" \
  --port "${CODITECT_IDE_PORT:-3000}" \
  "${CODITECT_WORKSPACE:-/home/project}" "$@"
