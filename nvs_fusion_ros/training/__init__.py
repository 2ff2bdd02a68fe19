"""training: the trainers of the view and temporal models, their run configs and recipe."""
