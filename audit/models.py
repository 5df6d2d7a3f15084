# History tables are created per business object by audit.history.track().
