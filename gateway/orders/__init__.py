"""Orders and fulfilment: buying, paying, verifying at the store (核销), refunds, bookings and settlement."""
