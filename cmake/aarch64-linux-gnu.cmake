# Cross build for 64-bit Arm Linux with Debian's cross toolchain (g++-aarch64-linux-gnu):
#   cmake -S . -B build-arm -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake -DEDGELM_TOOLS=OFF
# Binaries run on this machine under qemu user emulation (qemu-user-static); see
# `make test-arm`, which also picks the emulated CPU with QEMU_CPU.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(EDGELM_CROSS_TRIPLE aarch64-linux-gnu)
set(CMAKE_C_COMPILER ${EDGELM_CROSS_TRIPLE}-gcc)
set(CMAKE_CXX_COMPILER ${EDGELM_CROSS_TRIPLE}-g++)

# Target headers, libraries and CMake packages come from the cross sysroot only; build
# tools (programs) from the host.
set(CMAKE_FIND_ROOT_PATH /usr/${EDGELM_CROSS_TRIPLE})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config must not hand host (x86-64) libraries to the target build.
set(ENV{PKG_CONFIG_LIBDIR} "/usr/lib/${EDGELM_CROSS_TRIPLE}/pkgconfig:/usr/share/pkgconfig")

# How CMake and CTest run target binaries (test discovery, ctest in the build tree).
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64-static -L /usr/${EDGELM_CROSS_TRIPLE})
