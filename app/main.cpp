// latent-studio [--model DIR (default: the bundled default model)] [--data-dir DIR] [--context N] [--prompt TEXT --screenshots DIR]
#include <unistd.h>

#include <cstdlib>

#include <QApplication>
#include <QCommandLineParser>
#include <QDir>
#include <QStandardPaths>

#include "AppResources.h"
#include "MainWindow.h"

int main(int argc, char** argv) {
    // The engine's OpenMP threads must sleep, not spin, while they wait: libgomp reads OMP_WAIT_POLICY
    // once before main(), and its spin-waiting makes decode many times slower whenever the cores are
    // shared (GUI, other programs). Re-execute once with passive waiting unless the user chose a policy
    // (as the `latent` CLI does; see engine/cli/main.cpp).
    if (std::getenv("OMP_WAIT_POLICY") == nullptr) {
        ::setenv("OMP_WAIT_POLICY", "passive", 1);
        ::execv("/proc/self/exe", argv);  // returns only on failure: then carry on as we are
    }
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("latent-studio"));
    QApplication::setApplicationDisplayName(QStringLiteral("Latent Studio"));
    QApplication::setOrganizationName(QStringLiteral("latent-studio"));
    QApplication::setApplicationVersion(QStringLiteral("0.1.0"));
    QApplication::setDesktopFileName(QStringLiteral("latent-studio"));
    initAppResources();

    QCommandLineParser parser;
    parser.setApplicationDescription(QStringLiteral("Desktop workbench for DeepSeek-style (MLA + MoE + mHC) language models"));
    parser.addHelpOption();
    parser.addVersionOption();
    const QString defaultModel = bundledDefaultModelDir();
    QCommandLineOption model(QStringLiteral("model"),
                             QStringLiteral("Model folder to load at start (default: the bundled default model, %1).")
                                 .arg(defaultModel.isEmpty() ? QStringLiteral("not installed") : defaultModel),
                             QStringLiteral("DIR"));
    QCommandLineOption dataDir(QStringLiteral("data-dir"), QStringLiteral("Where chats and settings live (default: %1).")
                                   .arg(QStandardPaths::writableLocation(QStandardPaths::AppDataLocation)), QStringLiteral("DIR"));
    QCommandLineOption context(QStringLiteral("context"), QStringLiteral("Context length for --model (default 4096)."), QStringLiteral("N"), QStringLiteral("4096"));
    QCommandLineOption prompt(QStringLiteral("prompt"), QStringLiteral("Send this message once the model is loaded."), QStringLiteral("TEXT"));
    QCommandLineOption shots(QStringLiteral("screenshots"), QStringLiteral("After the reply to --prompt, save each view as PNG into DIR and quit."), QStringLiteral("DIR"));
    parser.addOptions({model, dataDir, context, prompt, shots});
    parser.process(app);

    AppOptions options;
    options.dataDir = parser.isSet(dataDir) ? parser.value(dataDir) : QStandardPaths::writableLocation(QStandardPaths::AppDataLocation);
    options.modelPath = parser.isSet(model) ? parser.value(model) : defaultModel;
    options.contextTokens = parser.value(context).toLongLong();
    options.autoPrompt = parser.value(prompt);
    options.screenshotDir = parser.value(shots);
    QDir().mkpath(options.dataDir);

    MainWindow window(options);
    window.warmUpViews();
    window.show();
    return app.exec();
}
