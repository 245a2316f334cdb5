# zdm — zero-downtime migrations, enforced inside PostgreSQL.
#
# PGXS build of the extension plus the project's own targets:
#   make run    install what is missing, build, start a scratch server under ./.run, run the demo
#   make test   the same set-up, then every suite: unit (ctest), pg_regress, isolation, TAP
#   make bench  benchmarks (never run by CI)

MODULE_big = zdm
EXTENSION  = zdm
PG_CONFIG ?= pg_config

SRCS := $(sort $(wildcard src/*.cpp src/*/*.cpp src/*/pure/*.cpp))
OBJS  = $(SRCS:.cpp=.o)

# The install script is assembled from one fragment per room (sql/install/NN_room.sql), so that each
# room owns its SQL. The assembled file is a build output.
DATA_built = zdm--0.1.sql
EXTRA_CLEAN = zdm--0.1.sql

# Every sql/<suite>.sql is a pg_regress suite.
REGRESS      = $(sort $(basename $(notdir $(wildcard sql/*.sql))))
REGRESS_OPTS = --inputdir=. --dbname=zdm_regress
ISOLATION    = $(sort $(basename $(notdir $(wildcard test/isolation/specs/*.spec))))
ISOLATION_OPTS = --inputdir=test/isolation --dbname=zdm_isolation

PG_CPPFLAGS = -Isrc -std=c++17
PG_CXXFLAGS = -std=c++17 -fno-omit-frame-pointer -Wno-register -Wno-missing-field-initializers
SHLIB_LINK  = -lfmt -lstdc++

# Debian's PostgreSQL is built with LLVM JIT; we ship no bitcode.
override with_llvm = no

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

zdm--0.1.sql: $(sort $(wildcard sql/install/*.sql))
	cat $^ > $@

# Header dependencies for the C++ sources.
override CXXFLAGS += -MMD -MP
-include $(SRCS:.cpp=.d)
EXTRA_CLEAN += $(SRCS:.cpp=.d) build-unit .run/test-logs

.PHONY: run test deps unit bench demo
deps:
	bash scripts/deps.sh

run: deps
	bash scripts/run.sh

test: deps
	bash scripts/test.sh

unit:
	bash scripts/unit.sh

bench:
	bash bench/run.sh
