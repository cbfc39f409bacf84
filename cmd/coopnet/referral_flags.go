package main

import (
	"strconv"
	"strings"
	"time"

	"github.com/coopnet/coopnet/referrals"
)

// referralFlags choose how work requests are kept, passed on and limited.
type referralFlags struct {
	retentionDays, hopLimit, perHour *option
}

func addReferralFlags(f *flagSet) referralFlags {
	return referralFlags{
		retentionDays: f.add("retention-days", "COOPNET_RETENTION_DAYS", "90", "DAYS",
			"days after a work request closes before the client's contact details are deleted and what they wrote is cleared (checked every hour)"),
		hopLimit: f.add("hop-limit", "COOPNET_HOP_LIMIT", "3", "N",
			"how many times a work request sent to a coop here may be referred on from coop to coop, 1 to "+strconv.Itoa(referrals.MaxHopLimit)),
		perHour: f.add("work-requests-per-hour", "COOPNET_WORK_REQUESTS_PER_HOUR", "12", "N",
			"work requests allowed per client address and hour, form and API together"),
	}
}

// referralSettings is the validated form of referralFlags.
type referralSettings struct {
	retention     time.Duration
	hopLimit      int
	perHour       float64
	retentionDays int
}

func (r referralFlags) validate() (referralSettings, error) {
	var s referralSettings
	var err error
	// Ten years is far beyond any need, and keeps the duration from
	// overflowing.
	if s.retentionDays, err = intOption(r.retentionDays, 1, 3650); err != nil {
		return referralSettings{}, err
	}
	s.retention = time.Duration(s.retentionDays) * 24 * time.Hour
	if s.hopLimit, err = intOption(r.hopLimit, 1, referrals.MaxHopLimit); err != nil {
		return referralSettings{}, err
	}
	if s.perHour, err = positiveFloat(r.perHour); err != nil {
		return referralSettings{}, err
	}
	return s, nil
}

// intOption reads a whole number option from lo to hi.
func intOption(o *option, lo, hi int) (int, error) {
	v, err := strconv.Atoi(strings.TrimSpace(o.value))
	if err != nil || v < lo || v > hi {
		return 0, o.invalid("must be a whole number from %d to %d", lo, hi)
	}
	return v, nil
}
