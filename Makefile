# broadsheet — the two commands: `make run` and `make test`.
GO ?= go

.PHONY: run test bench fuzz
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
