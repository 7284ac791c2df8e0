# broadsheet — the two commands: `make run` and `make test`.
GO ?= go
# gremlins, the mutation tester `make mutate` installs into .bin/.
GREMLINS_VERSION := v0.6.0

.PHONY: run test bench fuzz mutate
# run builds, then becomes the server (exec): Ctrl-C reaches broadsheet
# alone, which stops cleanly and exits 0 ("go run" would exit 1).
run:
	$(GO) build -o bin/broadsheet ./cmd/broadsheet
	exec ./bin/broadsheet serve

test:
	$(GO) vet ./...
	test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt: the files above need formatting"; exit 1; }
	$(GO) test -race -count=1 ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

fuzz:
	$(GO) test -run '^$$' -fuzz FuzzParseText -fuzztime 60s ./digest
	$(GO) test -run '^$$' -fuzz FuzzParse -fuzztime 60s ./feedback

# mutate: mutation testing of the core packages (slow: minutes per package on
# 2 CPUs; not part of `make test`). `make mutate MUTATE_PACKAGES="digest feeds"`
# for some of them. Prints each package's efficacy and coverage; see
# bench/mutate.sh.
MUTATE_PACKAGES ?= digest feeds subscription templates store
mutate:
	GOBIN=$(CURDIR)/.bin $(GO) install github.com/go-gremlins/gremlins/cmd/gremlins@$(GREMLINS_VERSION)
	GREMLINS=$(CURDIR)/.bin/gremlins GREMLINS_VERSION=$(GREMLINS_VERSION) bash bench/mutate.sh $(MUTATE_PACKAGES)
