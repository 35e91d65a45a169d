// checkpoint_test.cpp — atomic checkpoint folders, crash leftovers, rotation that keeps a healthy one.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>

#include "engine/checkpoint.h"
#include "engine/error.h"

using namespace engine;
namespace fs = std::filesystem;

namespace {

class CheckpointTest : public ::testing::Test {
protected:
    void SetUp() override {
        root_ = fs::temp_directory_path() / ("latent_ckpt_" + std::to_string(::getpid()) + "_" +
                                             ::testing::UnitTest::GetInstance()->current_test_info()->name());
        fs::remove_all(root_);
    }
    void TearDown() override { fs::remove_all(root_); }
    CheckpointInfo save(int64_t step, float value) {
        w_ = Tensor::cpu(DType::F32, {3, 4});
        m_ = Tensor::cpu(DType::F32, {3, 4});
        for (int i = 0; i < 12; ++i) {
            w_.as<float>()[i] = value + float(i);
            m_.as<float>()[i] = -value;
        }
        CheckpointWrite c;
        c.step = step;
        c.model = {{"model.embed_tokens.weight", w_.view()}};
        c.optimizer = {{"m.model.embed_tokens.weight", m_.view()}};
        c.state = {{"lr", 0.001}, {"data", {{"epoch", 1}, {"cursor", 40}}}};
        c.extra_files = {{"config.json", "{\"a\": 1}"}};
        return write_checkpoint(root_, c);
    }
    fs::path root_;
    Tensor w_, m_;
};

}  // namespace

TEST_F(CheckpointTest, RoundTripsTensorsAndState) {
    CheckpointInfo info = save(120, 1.5f);
    EXPECT_EQ(info.dir.filename(), "checkpoint-00000120");
    EXPECT_TRUE(info.healthy);
    LoadedCheckpoint c = read_checkpoint(info.dir);
    EXPECT_EQ(c.info.step, 120);
    EXPECT_EQ(c.state["data"]["cursor"], 40);
    EXPECT_EQ(c.state["format"], 1);
    TensorView w = c.model->get("model.embed_tokens.weight", {3, 4});
    EXPECT_EQ(w.as<float>()[11], 12.5f);
    EXPECT_EQ(c.optimizer->get("m.model.embed_tokens.weight").as<float>()[0], -1.5f);
    EXPECT_TRUE(fs::exists(info.dir / "config.json"));
    // Re-saving the same step replaces it whole.
    save(120, 7.0f);
    EXPECT_EQ(read_checkpoint(info.dir).model->get("model.embed_tokens.weight").as<float>()[0], 7.0f);
    EXPECT_EQ(list_checkpoints(root_).size(), 1u);
}

TEST_F(CheckpointTest, InterruptedWritesAreInvisibleAndCleanedUp) {
    save(10, 1.0f);
    // What a crash mid-write leaves: a temp folder with partial files, and a folder without state.json.
    fs::create_directories(root_ / ".checkpoint-00000020.tmp");
    std::ofstream(root_ / ".checkpoint-00000020.tmp" / "model.safetensors") << "partial";
    fs::create_directories(root_ / "checkpoint-00000030");
    std::ofstream(root_ / "checkpoint-00000030" / "model.safetensors") << "no state";
    auto all = list_checkpoints(root_);
    ASSERT_EQ(all.size(), 1u);
    EXPECT_EQ(all[0].step, 10);
    EXPECT_EQ(latest_healthy_checkpoint(root_)->step, 10);
    auto removed = rotate_checkpoints(root_, 3);
    EXPECT_FALSE(fs::exists(root_ / ".checkpoint-00000020.tmp"));
    EXPECT_EQ(removed.size(), 1u);
}

TEST_F(CheckpointTest, RotationNeverDeletesTheLastHealthyCheckpoint) {
    save(1, 0.0f);
    save(2, 0.0f);  // the newest healthy one
    for (int64_t step = 3; step <= 6; ++step) {
        save(step, std::numeric_limits<float>::quiet_NaN());
        EXPECT_FALSE(list_checkpoints(root_).back().healthy);
    }
    rotate_checkpoints(root_, 2);
    auto left = list_checkpoints(root_);
    ASSERT_EQ(left.size(), 3u);
    EXPECT_EQ(left[0].step, 2);  // kept although it is not among the newest two
    EXPECT_EQ(left[1].step, 5);
    EXPECT_EQ(left[2].step, 6);
    EXPECT_EQ(latest_healthy_checkpoint(root_)->step, 2);
    save(7, 1.0f);
    rotate_checkpoints(root_, 2);
    left = list_checkpoints(root_);
    ASSERT_EQ(left.size(), 2u);  // step 2 may go now: step 7 is healthy
    EXPECT_EQ(left[0].step, 6);
    EXPECT_EQ(left[1].step, 7);
}

TEST_F(CheckpointTest, BadStateAndBadNamesAreErrors) {
    CheckpointInfo info = save(5, 1.0f);
    std::ofstream(info.dir / "state.json") << "{not json";
    EXPECT_TRUE(list_checkpoints(root_).empty());
    try {
        read_checkpoint(info.dir);
        FAIL();
    } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kBadFile);
        EXPECT_NE(e.message().find("state.json"), std::string::npos);
    }
    CheckpointWrite c;
    c.step = 6;
    c.extra_files = {{"../evil", "x"}};
    EXPECT_THROW(write_checkpoint(root_, c), Error);
    EXPECT_FALSE(fs::exists(root_ / ".checkpoint-00000006.tmp"));
    EXPECT_THROW(rotate_checkpoints(root_, 0), Error);
}
