package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	berrors "go.etcd.io/bbolt/errors"
)

// TestFileChangedUnderDaemon changes the file under an open store in every
// way issue 17.4 names: each cause gets its own message naming the file,
// what happened and the one fix, writes are refused with ErrUnavailable,
// and the store goes on where the fix says it does.
func TestFileChangedUnderDaemon(t *testing.T) {
	ctx := context.Background()
	other := writeDB(t) // another sound database, to copy over ours
	otherData, err := os.ReadFile(other)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		change func(t *testing.T, path string)
		want   []string // in the message
		// after checks what the store does next.
		after func(t *testing.T, db *DB)
	}{
		{"deleted", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}, []string{"was deleted", "robaws-edge backup FILE", "robaws-edge restore FILE"}, func(t *testing.T, db *DB) {
			// What the daemon holds can still be saved.
			f, _, err := db.Snapshot(ctx)
			if err != nil {
				t.Fatalf("Snapshot of a deleted file: %v", err)
			}
			f.Close()
			saved := filepath.Join(t.TempDir(), "saved.db")
			if err := os.Rename(f.Name(), saved); err != nil {
				t.Fatal(err)
			}
			sdb, err := Open(saved, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer sdb.Close()
			if _, err := sdb.FindLogEntry(ctx, 1); err != nil {
				t.Fatalf("the saved copy: %v, want the entry stored before the deletion", err)
			}
		}},
		{"moved away and back", func(t *testing.T, path string) {
			if err := os.Rename(path, path+".moved"); err != nil {
				t.Fatal(err)
			}
		}, []string{"was moved away", "move it back to"}, func(t *testing.T, db *DB) {
			if err := os.Rename(db.Path()+".moved", db.Path()); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Ingest(ctx, ignored("back")); err != nil {
				t.Fatalf("Ingest once the file is back: %v", err)
			}
			if err := db.Problem(); err != nil {
				t.Fatalf("Problem once the file is back: %v", err)
			}
		}},
		{"replaced", func(t *testing.T, path string) {
			if err := os.Rename(path, path+".moved"); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, otherData, 0o600); err != nil {
				t.Fatal(err)
			}
		}, []string{"was replaced by another file", "robaws-edge backup FILE", "robaws-edge restart"}, nil},
		{"overwritten in place", func(t *testing.T, path string) {
			if err := os.WriteFile(path, otherData, 0o600); err != nil {
				t.Fatal(err)
			}
		}, []string{"overwritten or truncated in place", "robaws-edge stop", "robaws-edge restore FILE"}, func(t *testing.T, db *DB) {
			// Reads refuse too: the pages are another file's.
			if _, _, err := db.FindLogEntries(ctx, LogFilter{}); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("FindLogEntries: got %v, want ErrUnavailable", err)
			}
		}},
		{"truncated", func(t *testing.T, path string) {
			if err := os.Truncate(path, 0); err != nil {
				t.Fatal(err)
			}
		}, []string{"overwritten or truncated in place", "robaws-edge restore FILE"}, func(t *testing.T, db *DB) {
			if _, _, err := db.FindLogEntries(ctx, LogFilter{}); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("FindLogEntries: got %v, want ErrUnavailable", err)
			}
		}},
	}
	messages := map[string]string{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			db := MustOpenDB(t)
			if _, err := db.Ingest(ctx, ignored("1")); err != nil {
				t.Fatal(err)
			}
			if err := db.Problem(); err != nil {
				t.Fatalf("Problem: got %v, want nil", err)
			}
			tc.change(t, db.Path())
			if _, err := db.Ingest(ctx, ignored("2")); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("Ingest after the change: got %v, want ErrUnavailable", err)
			}
			if err := db.CreateSecret(ctx, &Secret{ID: "s", Endpoint: "customers", Value: "x"}); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("CreateSecret: got %v, want ErrUnavailable", err)
			}
			perr := db.Problem()
			if !errors.Is(perr, ErrUnavailable) {
				t.Fatalf("Problem: got %v, want ErrUnavailable", perr)
			}
			msg := perr.Error()
			for _, want := range append(tc.want, db.Path()) {
				if !strings.Contains(msg, want) {
					t.Errorf("Problem: got %q, want it to contain %q", msg, want)
				}
			}
			if strings.Contains(msg, ErrUnavailable.Error()) {
				t.Errorf("Problem: got %q, want no sentinel text in it", msg)
			}
			messages[tc.name] = msg
			if tc.after != nil {
				tc.after(t, db)
			}
		})
	}
	seen := map[string]string{}
	for name, msg := range messages {
		cause := strings.ReplaceAll(msg, "\n", "")
		cause = cause[:strings.Index(cause, ":")]
		if name == "truncated" {
			continue // the same cause as overwritten in place
		}
		if prev, ok := seen[cause]; ok {
			t.Errorf("%s and %s share the cause %q", prev, name, cause)
		}
		seen[cause] = name
	}
}

// TestCommitFailedMessages: each way a commit fails names its own cause
// and fix, wraps ErrUnavailable and the error itself.
func TestCommitFailedMessages(t *testing.T) {
	db := MustOpenDB(t)
	write := func(errno syscall.Errno) error {
		return &fs.PathError{Op: "write", Path: db.Path(), Err: errno}
	}
	cases := []struct {
		err  error
		want []string
	}{
		{write(syscall.ENOSPC), []string{"disk is full", "free disk space"}},
		{write(syscall.EROFS), []string{"went read-only", "remount it read-write"}},
		{write(syscall.EPERM), []string{"read-only or immutable", "chattr -i"}},
		{write(syscall.EACCES), []string{"read-only or immutable", "chmod u+w"}},
		{berrors.ErrMaxSizeReached, []string{"size cap", "retention.max_age"}},
		{write(syscall.EIO), []string{"cannot be written", "check the disk", "robaws-edge backup FILE"}},
	}
	causes := map[string]bool{}
	for _, tc := range cases {
		err := db.commitFailed(tc.err)
		if !errors.Is(err, ErrUnavailable) || !errors.Is(err, tc.err) {
			t.Errorf("%v: got %v, want it to wrap ErrUnavailable and the error", tc.err, err)
		}
		for _, want := range append(tc.want, db.Path()) {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%v: got %q, want %q in it", tc.err, err, want)
			}
		}
		if strings.Contains(tc.want[0], "read-only or immutable") {
			continue
		}
		cause := err.(*unavailableError).cause
		if causes[cause] {
			t.Errorf("%v: cause %q given twice", tc.err, cause)
		}
		causes[cause] = true
	}
}

// TestCommitFailureProblem: a real failed commit (the size cap) is what
// Problem reports, with its fix, until a commit succeeds.
func TestCommitFailureProblem(t *testing.T) {
	db, failed := fullDB(t)
	ctx := context.Background()
	if !errors.Is(failed, ErrUnavailable) || !strings.Contains(failed.Error(), "size cap") {
		t.Fatalf("failed commit: got %v, want ErrUnavailable naming the size cap", failed)
	}
	if err := db.Problem(); err == nil || err.Error() != failed.Error() {
		t.Fatalf("Problem: got %v, want %v", err, failed)
	}
	if _, err := db.Ingest(ctx, ignored("small")); err != nil {
		t.Fatalf("a small delivery: %v", err)
	}
	if err := db.Problem(); err != nil {
		t.Fatalf("Problem after a commit succeeded: got %v, want nil", err)
	}
}

// TestOverwriteUnderLoad overwrites, then truncates, the file in place
// while 32 writers and 4 readers use the store (issue 15.4): every write
// returns, none succeeds once the change is found, a read after it is
// refused at once, and Close returns within its bound although bbolt may
// be stuck.
func TestOverwriteUnderLoad(t *testing.T) {
	other := writeDB(t)
	otherData, err := os.ReadFile(other)
	if err != nil {
		t.Fatal(err)
	}
	for _, how := range []string{"copied over", "truncated"} {
		for round := range 3 {
			t.Run(fmt.Sprintf("%s/%d", how, round), func(t *testing.T) {
				ctx := context.Background()
				path := filepath.Join(t.TempDir(), "robaws-edge.db")
				db, err := Open(path, Options{})
				if err != nil {
					t.Fatal(err)
				}
				var stored atomic.Int64
				var found atomic.Bool // set once Problem reported the change
				var lateOK atomic.Int64
				quit := make(chan struct{})
				var wg sync.WaitGroup
				for w := range 32 {
					wg.Go(func() {
						for i := 0; ; i++ {
							select {
							case <-quit:
								return
							default:
							}
							checked := found.Load()
							_, err := db.Ingest(ctx, ignored(fmt.Sprintf("%d-%d", w, i)))
							if err == nil {
								stored.Add(1)
								if checked {
									lateOK.Add(1)
								}
							} else if !errors.Is(err, ErrUnavailable) {
								t.Errorf("Ingest: got %v, want nil or ErrUnavailable", err)
								return
							}
						}
					})
				}
				// Readers too; one that is inside bbolt at the very moment
				// of a truncation may wait for ever (view), so they are
				// not waited for.
				var readers sync.WaitGroup
				for range 4 {
					readers.Go(func() {
						for {
							select {
							case <-quit:
								return
							default:
							}
							db.FindLogEntries(ctx, LogFilter{Limit: 10})
						}
					})
				}
				waitUntil(t, 10*time.Second, "deliveries stored", func() bool { return stored.Load() > 500 })
				f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
				if err != nil {
					t.Fatal(err)
				}
				if how == "copied over" {
					// As cp does: truncate, then write in blocks.
					for off := 0; off < len(otherData); off += 128 << 10 {
						if _, err := f.Write(otherData[off:min(off+128<<10, len(otherData))]); err != nil {
							t.Fatal(err)
						}
					}
				}
				f.Close()
				waitUntil(t, 5*time.Second, "Problem to report the change", func() bool {
					err := db.Problem()
					return errors.Is(err, ErrUnavailable) && strings.Contains(err.Error(), "overwritten or truncated in place")
				})
				found.Store(true)
				time.Sleep(100 * time.Millisecond) // let the workers make more calls
				close(quit)
				done := make(chan struct{})
				go func() { wg.Wait(); close(done) }()
				select {
				case <-done:
				case <-time.After(10 * time.Second):
					buf := make([]byte, 1<<20)
					n := runtime.Stack(buf, true)
					t.Fatalf("store calls hang after the file changed:\n%s", buf[:n])
				}
				if n := lateOK.Load(); n > 0 {
					t.Errorf("%d deliveries stored after the change was found", n)
				}
				// A read now is refused at once.
				read := make(chan error, 1)
				go func() { _, _, err := db.FindLogEntries(ctx, LogFilter{}); read <- err }()
				select {
				case err := <-read:
					if !errors.Is(err, ErrUnavailable) {
						t.Errorf("FindLogEntries after the change: got %v, want ErrUnavailable", err)
					}
				case <-time.After(5 * time.Second):
					t.Error("FindLogEntries after the change hangs")
				}
				start := time.Now()
				db.Close()
				if took := time.Since(start); took > 3*closeWait {
					t.Errorf("Close took %v, want at most %v", took, 3*closeWait)
				}
			})
		}
	}
}

// waitUntil polls cond every 5 ms until it holds or d passes.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
