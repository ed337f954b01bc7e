# Toolchain file: cross-compiles for aarch64 with Debian 12's g++-aarch64-linux-gnu against the
# multiarch :arm64 -dev packages, and runs the results (gtest_discover_tests, ctest) under qemu.
# Usage: cmake -DCMAKE_TOOLCHAIN_FILE=cmake/aarch64-linux-gnu.cmake ... (see tests/aarch64.sh).
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# Libraries, headers and CMake packages come from the cross runtime (/usr/aarch64-linux-gnu)
# and the multiarch paths under /. CMAKE_LIBRARY_ARCHITECTURE makes find_* and find_package look
# in /usr/lib/aarch64-linux-gnu (and its cmake/ folder), never in /usr/lib/x86_64-linux-gnu;
# programs (protoc and the like) are the build machine's.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_INCLUDE_PATH /usr/include/aarch64-linux-gnu)
set(CMAKE_LIBRARY_PATH /usr/lib/aarch64-linux-gnu)

# pkg-config reads only the arm64 .pc files (plus the arch-independent ones).
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)
set(ENV{PKG_CONFIG_PATH} "")

# Test binaries run through user-mode qemu with the cross runtime's dynamic loader, and
# LD_LIBRARY_PATH makes it take that runtime's libc too. Without it the loader follows
# /etc/ld.so.cache to libc6:arm64's libc (a dependency of the :arm64 -dev packages, another build
# of glibc 2.36); a loader and a libc from different builds do not work together (the first
# pthread_create loops forever in its stack cache).
set(CMAKE_CROSSCOMPILING_EMULATOR
    qemu-aarch64;-L;/usr/aarch64-linux-gnu;-E;LD_LIBRARY_PATH=/usr/aarch64-linux-gnu/lib)
