// Package proto holds the runtime protocol spoken between retool's
// orchestrator and runtime plugins. The Go code is generated from
// runtime.proto and committed; plugin authors use plugins/sdk instead.
package proto

// protoc comes from Debian (protobuf-compiler); the Go generators are pinned
// as tools in go.mod, so one `go generate ./...` reproduces the committed code.
//go:generate sh -c "protoc --plugin=protoc-gen-go=$(go tool -n protoc-gen-go) --plugin=protoc-gen-go-grpc=$(go tool -n protoc-gen-go-grpc) --go_out=. --go_opt=paths=source_relative --go-grpc_out=. --go-grpc_opt=paths=source_relative runtime.proto"
