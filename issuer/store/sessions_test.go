package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/signet-auth/signet/issuer/store"
	"github.com/signet-auth/signet/issuer/store/storetest"
)

func TestSigninThrottle(t *testing.T) {
	storetest.ForEach(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		now := time.UnixMilli(1_700_000_000_000).UTC()
		day := 24 * time.Hour
		if until, err := db.SigninBlockedUntil(ctx, []string{"acct:a@example.com", "ip:192.0.2.1"}); err != nil || !until.IsZero() {
			t.Fatalf("empty table: %v %v", until, err)
		}
		for i := 1; i <= 3; i++ {
			n, err := db.RecordSigninFailure(ctx, "acct:a@example.com", now, now.Add(-day))
			if err != nil || n != i {
				t.Fatalf("failure %d: got %d, %v", i, n, err)
			}
		}
		if err := db.BlockSignin(ctx, "acct:a@example.com", now.Add(2*time.Second)); err != nil {
			t.Fatal(err)
		}
		// Never lowered by a late writer.
		_ = db.BlockSignin(ctx, "acct:a@example.com", now.Add(time.Second))
		_, _ = db.RecordSigninFailure(ctx, "ip:192.0.2.1", now, now.Add(-day))
		_ = db.BlockSignin(ctx, "ip:192.0.2.1", now.Add(time.Second))
		until, err := db.SigninBlockedUntil(ctx, []string{"acct:a@example.com", "ip:192.0.2.1"})
		if err != nil || !until.Equal(now.Add(2*time.Second)) {
			t.Fatalf("blocked until %v, %v; want %v", until, err, now.Add(2*time.Second))
		}
		// A failure a day after the last one starts the count over.
		next := now.Add(day + time.Second)
		if n, _ := db.RecordSigninFailure(ctx, "acct:a@example.com", next, next.Add(-day)); n != 1 {
			t.Fatalf("after the reset window: %d, want 1", n)
		}
		if until, _ := db.SigninBlockedUntil(ctx, []string{"acct:a@example.com"}); !until.IsZero() {
			t.Fatalf("reset count still blocks until %v", until)
		}
		if err := db.ClearSigninFailures(ctx, "acct:a@example.com"); err != nil {
			t.Fatal(err)
		}
		if n, _ := db.RecordSigninFailure(ctx, "acct:a@example.com", next, next.Add(-day)); n != 1 {
			t.Fatalf("after clear: %d, want 1", n)
		}
		if n, err := db.DeleteStaleSigninFailures(ctx, next, next); err != nil || n != 1 {
			t.Fatalf("delete stale: %d %v (want the ip row only)", n, err)
		}
	})
}
