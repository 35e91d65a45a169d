// AppResources — registers resources/app.qrc (compiled into the static latent_app_core library).
#pragma once

void initAppResources();
