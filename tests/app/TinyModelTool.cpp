// latent-tiny-chat-model DIR — writes the random-weight tiny chat checkpoint (see TinyChatModel.h).
#include <cstdio>
#include <exception>

#include "TinyChatModel.h"

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: latent-tiny-chat-model DIR\n");
        return 2;
    }
    try {
        TinyChatModel::write(QString::fromLocal8Bit(argv[1]));
    } catch (const std::exception& e) {
        std::fprintf(stderr, "latent-tiny-chat-model: %s\n", e.what());
        return 1;
    }
    return 0;
}
