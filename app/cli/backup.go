package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/robaws-edge/robaws-edge/app"
)

func cmdBackup(ctx context.Context, env *cliEnv, args []string) error {
	fs := newFlags(env, "backup")
	configPath := configFlag(fs)
	force := fs.Bool("force", false, "overwrite FILE if it exists")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError("backup needs one FILE to write (or - for stdout)")
	}
	path := pos[0]
	if path != "-" {
		// A directory gets a dated file inside it.
		if fi, err := os.Stat(path); err == nil && fi.IsDir() {
			path = filepath.Join(path, "robaws-edge-"+time.Now().Format("20060102-150405")+".db")
		}
		if _, err := os.Stat(path); err == nil && !*force {
			return usageError("%s exists; pass --force to overwrite it", path)
		}
	}
	c, addr, err := daemonClient(*configPath)
	if err != nil {
		return err
	}
	// Ctrl-C ends the download; writeBackup then removes its temp file.
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if path == "-" {
		if _, err := c.Backup(ctx, env.stdout); err != nil {
			return apiError(err, addr)
		}
		return nil
	}
	n, err := writeBackup(ctx, c, path)
	if err != nil {
		return apiError(err, addr)
	}
	fmt.Fprintf(env.stdout, "wrote %s (%d bytes)\n", path, n)
	return nil
}

// writeBackup downloads the daemon's snapshot into a temp file next to
// path, syncs it, renames it over path and syncs the directory, so path is
// either the old file or a complete new one.
func writeBackup(ctx context.Context, c *app.Client, path string) (int64, error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return 0, err
	}
	tmp := f.Name()
	ok := false
	defer func() {
		if !ok {
			f.Close()
			os.Remove(tmp)
		}
	}()
	n, err := c.Backup(ctx, f)
	if err != nil {
		return 0, err
	}
	if err := f.Sync(); err != nil {
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	if err := os.Rename(tmp, path); err != nil {
		return 0, err
	}
	ok = true
	return n, syncDir(dir)
}

// syncDir makes a rename in dir durable. Windows cannot open a directory
// for syncing; its rename is durable through NTFS's journal.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
