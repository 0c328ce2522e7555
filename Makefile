# Makefile -- build libcauchy and install it where C and C++ programs expect it.
#
#   make                         build the installable library in target/install/
#   make install                 build, then install into $(PREFIX) (default /usr/local)
#   make install PREFIX=/opt/x   another prefix (absolute); DESTDIR=/stage prepends a staging folder
#   make uninstall               remove what `make install` installed (same PREFIX, DESTDIR)
#   make clean                   remove target/install/
#
# Installed: lib/libcauchy.so.$(VERSION) (SONAME libcauchy.so.$(MAJOR)) with the symlinks
# libcauchy.so.$(MAJOR) and libcauchy.so, lib/libcauchy.a, include/cauchy.h and cauchy.hpp,
# lib/pkgconfig/cauchy.pc and lib/cmake/cauchy/ (find_package(cauchy): cauchy::cauchy and
# cauchy::cauchy_static). The version comes from Cargo.toml.
#
# The build has its own cargo target folder: only this copy of the library gets a SONAME, so
# target/release/libcauchy.so (what `cargo build --release` makes) stays as the README's
# quick-start links it. `make` then `sudo make install` runs cargo only as yourself.

ROOT := $(dir $(abspath $(lastword $(MAKEFILE_LIST))))

PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
CMAKEDIR ?= $(LIBDIR)/cmake/cauchy
DESTDIR ?=
CARGO ?= cargo
BUILD_DIR ?= $(ROOT)target/install

ifneq ($(filter /%,$(PREFIX) $(LIBDIR) $(INCLUDEDIR)),$(strip $(PREFIX) $(LIBDIR) $(INCLUDEDIR)))
$(error PREFIX, LIBDIR and INCLUDEDIR must be absolute paths)
endif

# The [package] version in Cargo.toml; its major part names the SONAME.
VERSION := $(shell awk -F'"' '/^\[/ { p = ($$0 == "[package]") } p && /^version *=/ { print $$2; exit }' '$(ROOT)Cargo.toml')
ifeq ($(VERSION),)
$(error cannot read the package version from $(ROOT)Cargo.toml)
endif
MAJOR := $(word 1,$(subst ., ,$(VERSION)))
MINOR := $(word 2,$(subst ., ,$(VERSION)))
SONAME := libcauchy.so.$(MAJOR)

# What `rustc --print native-static-libs` lists for the static library on Linux (glibc).
NATIVE_STATIC_LIBS := -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc

SO := $(BUILD_DIR)/release/libcauchy.so
STATIC := $(BUILD_DIR)/release/libcauchy.a
SOURCES := $(wildcard $(ROOT)Cargo.toml $(ROOT)Cargo.lock $(ROOT)build.rs $(ROOT)cbindgen.toml \
	$(ROOT)src/*.rs $(ROOT)src/*/*.rs)

# Substitutions for the templates in packaging/; pkg-config's libdir and includedir are
# written relative to ${prefix} where they lie under it.
SUBST := sed -e 's|@VERSION@|$(VERSION)|g' -e 's|@MAJOR@|$(MAJOR)|g' -e 's|@MINOR@|$(MINOR)|g' \
	-e 's|@SONAME@|$(SONAME)|g' \
	-e 's|@PREFIX@|$(PREFIX)|g' -e 's|@LIBDIR@|$(LIBDIR)|g' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|g' \
	-e 's|@PC_LIBDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))|g' \
	-e 's|@PC_INCLUDEDIR@|$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))|g' \
	-e 's|@NATIVE_STATIC_LIBS@|$(NATIVE_STATIC_LIBS)|g'

.PHONY: all install uninstall clean

all: $(SO)

# One rustc run makes both libraries, $(SO) and $(STATIC); the SONAME only affects the shared one.
$(SO): $(SOURCES)
	$(CARGO) rustc --manifest-path '$(ROOT)Cargo.toml' --release --lib \
		--crate-type cdylib,staticlib --target-dir '$(BUILD_DIR)' \
		-- -C link-arg=-Wl,-soname,$(SONAME)
	touch '$(SO)' '$(STATIC)'

install: $(SO)
	install -d '$(DESTDIR)$(LIBDIR)' '$(DESTDIR)$(INCLUDEDIR)' '$(DESTDIR)$(PKGCONFIGDIR)' \
		'$(DESTDIR)$(CMAKEDIR)'
	install -m 755 '$(SO)' '$(DESTDIR)$(LIBDIR)/libcauchy.so.$(VERSION)'
	ln -sf 'libcauchy.so.$(VERSION)' '$(DESTDIR)$(LIBDIR)/$(SONAME)'
	ln -sf '$(SONAME)' '$(DESTDIR)$(LIBDIR)/libcauchy.so'
	install -m 644 '$(STATIC)' '$(DESTDIR)$(LIBDIR)/libcauchy.a'
	install -m 644 '$(ROOT)include/cauchy.h' '$(ROOT)include/cauchy.hpp' '$(DESTDIR)$(INCLUDEDIR)/'
	$(SUBST) '$(ROOT)packaging/cauchy.pc.in' > '$(DESTDIR)$(PKGCONFIGDIR)/cauchy.pc'
	$(SUBST) '$(ROOT)packaging/cauchyConfig.cmake.in' > '$(DESTDIR)$(CMAKEDIR)/cauchyConfig.cmake'
	$(SUBST) '$(ROOT)packaging/cauchyConfigVersion.cmake.in' \
		> '$(DESTDIR)$(CMAKEDIR)/cauchyConfigVersion.cmake'

uninstall:
	rm -f '$(DESTDIR)$(LIBDIR)/libcauchy.so.$(VERSION)' '$(DESTDIR)$(LIBDIR)/$(SONAME)' \
		'$(DESTDIR)$(LIBDIR)/libcauchy.so' '$(DESTDIR)$(LIBDIR)/libcauchy.a' \
		'$(DESTDIR)$(INCLUDEDIR)/cauchy.h' '$(DESTDIR)$(INCLUDEDIR)/cauchy.hpp' \
		'$(DESTDIR)$(PKGCONFIGDIR)/cauchy.pc' '$(DESTDIR)$(CMAKEDIR)/cauchyConfig.cmake' \
		'$(DESTDIR)$(CMAKEDIR)/cauchyConfigVersion.cmake'
	rmdir '$(DESTDIR)$(CMAKEDIR)' 2>/dev/null || true

clean:
	rm -rf '$(BUILD_DIR)'
