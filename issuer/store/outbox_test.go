package store_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
)

// TestOutboxClaims: a message is claimed by one replica at a time (two
// pools on one database, claiming at once), released for a retry at its
// time, and claimable again when a lease runs out.
func TestOutboxClaims(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			u := storetest.URL(t, dialect)
			a, err := store.Open(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			if err := a.MigrateUp(); err != nil {
				t.Fatal(err)
			}
			b, err := store.Open(ctx, u)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			now := time.UnixMilli(1_700_000_000_000).UTC()
			err = a.AccountTx(ctx, func(tx issuer.AccountTx) error {
				for i := range 30 {
					m := issuer.OutboxMail{ID: string(rune('a'+i%26)) + time.Duration(i).String(), Kind: issuer.MailPasswordReset, Recipient: "ann@example.com",
						Body: []byte("sealed"), CreatedAt: now, ExpiresAt: now.Add(time.Hour), NextAttemptAt: now}
					if err := tx.EnqueueMail(ctx, m); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			seen := map[string]int{}
			var wg sync.WaitGroup
			for _, db := range []*store.DB{a, b, a, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					got, err := db.ClaimMail(ctx, now, now.Add(time.Minute), 10)
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					for _, m := range got {
						seen[m.ID]++
						if m.Attempts != 1 || string(m.Body) != "sealed" {
							t.Errorf("claimed %+v", m)
						}
					}
					mu.Unlock()
				}()
			}
			wg.Wait()
			if len(seen) != 30 {
				t.Fatalf("claimed %d distinct messages, want 30", len(seen))
			}
			for id, n := range seen {
				if n != 1 {
					t.Fatalf("message %s claimed %d times", id, n)
				}
			}
			if got, _ := a.ClaimMail(ctx, now.Add(30*time.Second), now.Add(2*time.Minute), 50); len(got) != 0 {
				t.Fatalf("claimed %d messages under lease", len(got))
			}
			var one string
			for id := range seen {
				one = id
				break
			}
			if err := a.MailRetry(ctx, one, now.Add(10*time.Second), "down"); err != nil {
				t.Fatal(err)
			}
			if got, _ := b.ClaimMail(ctx, now.Add(5*time.Second), now.Add(time.Minute), 50); len(got) != 0 {
				t.Fatal("claimed before its retry time")
			}
			if got, _ := b.ClaimMail(ctx, now.Add(10*time.Second), now.Add(time.Minute), 50); len(got) != 1 || got[0].ID != one || got[0].Attempts != 2 {
				t.Fatalf("retry claim = %+v", got)
			}
			if err := b.MailSent(ctx, one, now.Add(11*time.Second)); err != nil {
				t.Fatal(err)
			}
			// Leases end: the rest are claimable again, the sent one never.
			got, _ := a.ClaimMail(ctx, now.Add(2*time.Minute), now.Add(3*time.Minute), 50)
			if len(got) != 29 {
				t.Fatalf("after the leases: %d claimable, want 29", len(got))
			}
			for _, m := range got {
				if m.ID == one {
					t.Fatal("a sent message was claimed again")
				}
			}
		})
	}
}

// TestAccountTokens: a token is taken once (two racing transactions, one
// wins), an expired one never, and a newer token of the same purpose
// replaces the older unless told to keep it.
func TestAccountTokens(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.UnixMilli(1_700_000_000_000).UTC()
		if err := db.CreateUser(ctx, issuer.User{ID: "u1", Email: "ann@example.com", PasswordHash: "h", CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		put := func(hash string, p issuer.TokenPurpose, replace bool) {
			err := db.AccountTx(ctx, func(tx issuer.AccountTx) error {
				return tx.PutAccountToken(ctx, issuer.AccountToken{Hash: []byte(hash), Purpose: p, UserID: "u1", Email: "ann@example.com",
					CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, replace)
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		take := func(hash string, p issuer.TokenPurpose, at time.Time) error {
			return db.AccountTx(ctx, func(tx issuer.AccountTx) error {
				_, err := tx.TakeAccountToken(ctx, []byte(hash), p, at)
				return err
			})
		}
		put("r1", issuer.PurposePasswordReset, true)
		put("r2", issuer.PurposePasswordReset, true)
		if err := take("r1", issuer.PurposePasswordReset, now); !errors.Is(err, issuer.ErrNotFound) {
			t.Fatalf("a replaced token: %v", err)
		}
		if err := take("r2", issuer.PurposeVerifyEmail, now); !errors.Is(err, issuer.ErrNotFound) {
			t.Fatalf("a token of another purpose: %v", err)
		}
		if err := take("r2", issuer.PurposePasswordReset, now.Add(time.Hour)); !errors.Is(err, issuer.ErrNotFound) {
			t.Fatalf("an expired token: %v", err)
		}
		if _, err := db.LiveAccountToken(ctx, []byte("r2"), issuer.PurposePasswordReset, now); err != nil {
			t.Fatalf("peek: %v", err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 4)
		for i := range errs {
			wg.Add(1)
			go func() { defer wg.Done(); errs[i] = take("r2", issuer.PurposePasswordReset, now) }()
		}
		wg.Wait()
		won := 0
		for _, err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, issuer.ErrNotFound):
				t.Fatalf("racing take: %v", err)
			}
		}
		if won != 1 {
			t.Fatalf("%d racing takes won, want 1", won)
		}
		put("x1", issuer.PurposeEmailChangeCancel, false)
		put("x2", issuer.PurposeEmailChangeCancel, false)
		if take("x1", issuer.PurposeEmailChangeCancel, now) != nil || take("x2", issuer.PurposeEmailChangeCancel, now) != nil {
			t.Fatal("kept tokens were not both live")
		}
	})
}

// TestMigrationConfirmsExistingAccounts: accounts made before
// confirmation existed are taken as confirmed by migration 000006, so an
// upgrade with SIGNET_REQUIRE_VERIFIED_EMAIL=true locks nobody out; new
// accounts start unconfirmed.
func TestMigrationConfirmsExistingAccounts(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := db.MigrateDown(2); err != nil { // 000007, then 000006
			t.Fatal(err)
		}
		if _, err := db.SQL().Exec(`INSERT INTO users (id, email, password_hash, created_at, updated_at) VALUES ('old', 'old@example.com', 'h', 1, 1)`); err != nil {
			t.Fatal(err)
		}
		if err := db.MigrateUp(); err != nil {
			t.Fatal(err)
		}
		if u, err := db.UserByID(ctx, "old"); err != nil || !u.EmailVerified {
			t.Fatalf("existing account after the migration: %+v, %v", u, err)
		}
		if err := db.CreateUser(ctx, issuer.User{ID: "new", Email: "new@example.com", PasswordHash: "h", CreatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if u, _ := db.UserByID(ctx, "new"); u.EmailVerified {
			t.Fatal("a new account starts confirmed")
		}
	})
}
