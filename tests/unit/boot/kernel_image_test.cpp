#include "boot/kernel_image.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

namespace ember::boot {
namespace {

using ::testing::HasSubstr;

// A fresh directory for each test, removed with its files afterwards.
class KernelImageTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string tmpl = "/tmp/ember-kernel-image-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override {
        for (const auto& f : files_)
            (void)::unlink(f.c_str());
        (void)::rmdir(dir_.c_str());
    }

    std::string path(const std::string& name) {
        files_.push_back(dir_ + "/" + name);
        return files_.back();
    }
    std::string write_file(const std::string& name, const std::string& content) {
        const std::string p = path(name);
        const int fd = ::open(p.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        EXPECT_GE(fd, 0);
        EXPECT_EQ(::write(fd, content.data(), content.size()),
                  static_cast<ssize_t>(content.size()));
        ::close(fd);
        return p;
    }

    std::string dir_;
    std::vector<std::string> files_;
};

TEST_F(KernelImageTest, MapsAFile) {
    const std::string p = write_file("vmlinux", "\x7f"
                                                "ELF and the rest of a kernel");
    auto image = KernelImage::open(p);
    ASSERT_TRUE(image) << image.error().message();
    EXPECT_EQ(image->name(), p);
    EXPECT_EQ(image->kind(), ImageKind::kKernel);
    EXPECT_EQ(image->context(), "kernel '" + p + "'");
    ASSERT_EQ(image->bytes().size(), 29U);
    EXPECT_EQ(image->bytes()[1], std::byte{'E'});
    EXPECT_EQ(image->bytes()[28], std::byte{'l'});

    // Moving keeps the mapping alive and empties the source.
    KernelImage moved = std::move(*image);
    EXPECT_EQ(moved.bytes().size(), 29U);
    EXPECT_EQ(moved.bytes()[0], std::byte{0x7f});
    EXPECT_TRUE(
        image->bytes().empty()); // NOLINT(bugprone-use-after-move): checking the moved-from state
}

TEST_F(KernelImageTest, MissingFile) {
    const std::string p = dir_ + "/nope.elf";
    auto image = KernelImage::open(p);
    ASSERT_FALSE(image);
    EXPECT_EQ(image.error().code(), Errc::kNotFound);
    EXPECT_EQ(image.error().message(),
              "kernel '" + p + "': no such file (give the path of a PVH ELF kernel)");
    auto initrd = KernelImage::open(p, ImageKind::kInitrd);
    ASSERT_FALSE(initrd);
    EXPECT_EQ(initrd.error().message(),
              "initrd '" + p + "': no such file (give the path of an initrd or initramfs image)");
    // A path through a regular file (ENOTDIR) is just as missing.
    const std::string file = write_file("plain", "x");
    EXPECT_EQ(KernelImage::open(file + "/vmlinux").error().code(), Errc::kNotFound);
    EXPECT_THAT(KernelImage::open("").error().message(), HasSubstr("kernel '': no path given"));
}

TEST_F(KernelImageTest, Directory) {
    auto image = KernelImage::open(dir_);
    ASSERT_FALSE(image);
    EXPECT_EQ(image.error().code(), Errc::kInvalidInput);
    EXPECT_EQ(image.error().message(),
              "kernel '" + dir_ + "': is a directory (give the path of a PVH ELF kernel)");
}

TEST_F(KernelImageTest, EmptyFile) {
    const std::string p = write_file("empty", "");
    auto image = KernelImage::open(p, ImageKind::kInitrd);
    ASSERT_FALSE(image);
    EXPECT_EQ(image.error().code(), Errc::kInvalidInput);
    EXPECT_THAT(image.error().message(), HasSubstr("initrd '" + p + "': is empty (0 bytes)"));
}

TEST_F(KernelImageTest, NotARegularFile) {
    const std::string p = path("fifo");
    ASSERT_EQ(::mkfifo(p.c_str(), 0600), 0);
    auto image = KernelImage::open(p); // must not block waiting for a writer
    ASSERT_FALSE(image);
    EXPECT_EQ(image.error().code(), Errc::kInvalidInput);
    EXPECT_THAT(image.error().message(), HasSubstr("is not a regular file"));
}

TEST_F(KernelImageTest, AbsurdlyLargeFile) {
    const std::string p = write_file("disk.img", "");
    ASSERT_EQ(::truncate(p.c_str(), static_cast<off_t>(kMaxImageSize + 1)), 0); // sparse
    auto image = KernelImage::open(p);
    ASSERT_FALSE(image);
    EXPECT_EQ(image.error().code(), Errc::kInvalidInput);
    EXPECT_THAT(image.error().message(),
                HasSubstr("is 1025 MiB; ember loads kernel images of at most 1024 MiB (is it a "
                          "disk image?)"));
}

TEST_F(KernelImageTest, UnreadableFile) {
    if (::geteuid() == 0) GTEST_SKIP() << "root reads files whatever their mode";
    const std::string p = write_file("secret", "x");
    ASSERT_EQ(::chmod(p.c_str(), 0), 0);
    auto image = KernelImage::open(p);
    ASSERT_FALSE(image);
    EXPECT_EQ(image.error().code(), Errc::kNotFound);
    EXPECT_EQ(image.error().sys_errno(), EACCES);
    EXPECT_THAT(image.error().describe(),
                HasSubstr("cannot open it (check its permissions): Permission denied"));
}

TEST(KernelImage, FromBytesCopiesNothing) {
    static const std::byte kBundled[] = {std::byte{1}, std::byte{2}, std::byte{3}};
    const auto image = KernelImage::from_bytes("<bundled>", kBundled);
    EXPECT_EQ(image.bytes().data(), kBundled);
    EXPECT_EQ(image.bytes().size(), 3U);
    EXPECT_EQ(image.context(), "kernel '<bundled>'");
    EXPECT_EQ(KernelImage::from_bytes("r", kBundled, ImageKind::kInitrd).context(), "initrd 'r'");
}

} // namespace
} // namespace ember::boot
