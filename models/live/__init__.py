"""Live state over a trained bundle: prices, the delta index of live products, the overlay."""
