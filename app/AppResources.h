// AppResources — registers resources/app.qrc (compiled into the static latent_app_core library) and
// finds the bundled default model on disk.
#pragma once

#include <QString>

void initAppResources();

// The bundled default model's folder (the one holding config.json), or an empty string when none is
// found. Looked up in order: $LATENT_DEFAULT_MODEL; <exe dir>/../share/latent-studio/models/default
// (installed under any prefix, e.g. /usr/bin -> /usr/share); <exe dir>/../../resources/models/default
// (the build tree, build/app/latent-studio); latent-studio/models/default under the XDG data dirs.
// Needs a QCoreApplication (for the executable's directory).
QString bundledDefaultModelDir();
