package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/database"
	"github.com/golang-migrate/migrate/v4/database/postgres"
	"github.com/golang-migrate/migrate/v4/database/sqlite"
	"github.com/golang-migrate/migrate/v4/source/iofs"

	"github.com/signet-auth/signet/migrations"
)

// MigrationStatus is the schema version of a database.
type MigrationStatus struct {
	Version uint `json:"version"`
	Dirty   bool `json:"dirty"`
	Latest  uint `json:"latest"`
	// Applied counts the known migrations at or below Version; Known
	// counts them all.
	Applied int `json:"applied"`
	Known   int `json:"known"`
}

// MigrateUp applies every pending migration. Concurrent callers (replicas
// starting together) are serialised by golang-migrate's database lock.
func (d *DB) MigrateUp() error {
	err := d.migrate(func(m *migrate.Migrate) error {
		if err := m.Up(); err != nil && !errors.Is(err, migrate.ErrNoChange) {
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	// SQL cannot compute the email skeleton (migration 000004): fill it in
	// for rows that predate it.
	_, err = d.FillEmailSkeletons(context.Background())
	return err
}

// MigrateDown reverts the latest n migrations (all of them when n <= 0).
// Asking for more than are applied reverts nothing and says how many are.
func (d *DB) MigrateDown(n int) error {
	if n > 0 {
		st, err := d.MigrationVersion()
		if err != nil {
			return err
		}
		if n > st.Applied {
			return fmt.Errorf("store: cannot revert %d migrations: %d applied", n, st.Applied)
		}
	}
	return d.migrate(func(m *migrate.Migrate) error {
		var err error
		if n <= 0 {
			err = m.Down()
		} else {
			err = m.Steps(-n)
		}
		if err != nil && !errors.Is(err, migrate.ErrNoChange) {
			return err
		}
		return nil
	})
}

// MigrationVersion reports the applied and the latest known version.
func (d *DB) MigrationVersion() (MigrationStatus, error) {
	var st MigrationStatus
	err := d.migrate(func(m *migrate.Migrate) error {
		v, dirty, err := m.Version()
		if err != nil && !errors.Is(err, migrate.ErrNilVersion) {
			return err
		}
		st.Version, st.Dirty = v, dirty
		return nil
	})
	if err != nil {
		return st, err
	}
	src, err := iofs.New(migrations.FS, d.dialect)
	if err != nil {
		return st, fmt.Errorf("store: migrations: %w", err)
	}
	defer src.Close()
	for v, err := src.First(); err == nil; v, err = src.Next(v) {
		st.Latest = v
		st.Known++
		if v <= st.Version {
			st.Applied++
		}
	}
	return st, nil
}

// migrate runs fn on a migrate.Migrate over a connection of its own, since
// closing golang-migrate's driver closes the pool it was given.
func (d *DB) migrate(fn func(*migrate.Migrate) error) error {
	conn, err := sql.Open(d.dialect, d.dsn)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	defer conn.Close()
	var drv database.Driver
	if d.dialect == Postgres {
		drv, err = postgres.WithInstance(conn, &postgres.Config{})
	} else {
		drv, err = sqlite.WithInstance(conn, &sqlite.Config{})
	}
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	src, err := iofs.New(migrations.FS, d.dialect)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", src, d.dialect, drv)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	defer m.Close()
	if err := fn(m); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}
