#include "AppResources.h"

#include <QtGlobal>

static void initAppQrc() { Q_INIT_RESOURCE(app); }

void initAppResources() {
    static const bool done = (initAppQrc(), true);
    (void)done;
}
