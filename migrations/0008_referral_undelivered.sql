-- A sent referral whose Offer could not be delivered (the peer refused it,
-- publishes no key, or stayed unreachable through every retry): when, and
-- why, for the coop's members. The referral stays offered: they withdraw it
-- and refer the request elsewhere.
ALTER TABLE referrals ADD COLUMN undelivered_at TIMESTAMP;
ALTER TABLE referrals ADD COLUMN undelivered_reason TEXT NOT NULL DEFAULT '';
