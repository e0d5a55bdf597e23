// Command tinyqat trains networks, makes them robust to int8 with
// quantization-aware training, and runs them on an integer-only runtime.
//
// Every subcommand prints progress to standard output (a bar on a terminal,
// plain lines otherwise); with --json the last line of standard output is
// one JSON object with the results. Errors are one line on standard error
// and a non-zero exit status.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

// run executes the command line and returns the exit status. A panic is a
// bug; it is reported on one line rather than as a trace.
func run(args []string) (status int) {
	defer func() {
		if r := recover(); r != nil {
			fmt.Fprintf(os.Stderr, "tinyqat: internal error: %v\n", r)
			status = 2
		}
	}()
	// The first interrupt cancels ctx: the command stops at its next
	// check and leaves finished checkpoints intact. It also restores the
	// default handling, so a second one ends the process at once, even
	// if the command is blocked where it does not look at ctx.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop()
	}()
	root := rootCmd()
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "tinyqat: interrupted; files already written (checkpoints of finished epochs) are intact")
			return 130
		}
		fmt.Fprintf(os.Stderr, "tinyqat: %v\n", err)
		return 1
	}
	return 0
}

func rootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "tinyqat",
		Short:         "Quantization-aware training and an integer-only int8 runtime",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(demoCmd(), trainCmd(), ptqCmd(), qatCmd(), exportCmd(), evalCmd(), benchCmd(), plotCmd(), predictCmd())
	root.AddCommand(clusterCmd(), dataCmd())
	root.AddCommand(attackCmd(), reportCmd())
	root.AddCommand(mixedCmd())
	return root
}

// printJSON writes v as the last line of standard output.
func printJSON(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(os.Stdout, string(b))
	return err
}

// stageError names the command that failed in place of the library
// stage ("train: ", "rundir: ", ...: libraryStages) that its message
// starts with: `ptq --bits-w 0` is a ptq error, though the qat package
// checked it. Unwrap keeps the
// library's error for errors.Is and errors.As.
type stageError struct {
	name string
	err  error
}

func (e *stageError) Error() string {
	msg := e.err.Error()
	return e.name + ": " + strings.TrimPrefix(msg, libraryStage(msg))
}

// libraryStages are the prefixes of the libraries' errors: the
// training stages', and infer's and export's for the commands that read
// and compare model files (`export --mode bogus` said "infer: …").
var libraryStages = []string{"train: ", "rundir: ", "qat: ", "cluster: ", "infer: ", "export: "}

// libraryStage is the library prefix msg starts with, or "".
func libraryStage(msg string) string {
	for _, p := range libraryStages {
		if strings.HasPrefix(msg, p) {
			return p
		}
	}
	return ""
}

func (e *stageError) Unwrap() error { return e.err }

// namedStage makes the errors of run that start with a library stage
// (libraryStages) start with name instead.
func namedStage(name string, run func(*cobra.Command, []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := run(cmd, args)
		if err != nil && libraryStage(err.Error()) != "" && !errors.Is(err, context.Canceled) {
			return &stageError{name: name, err: err}
		}
		return err
	}
}
