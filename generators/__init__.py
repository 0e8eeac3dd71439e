"""Synthetic data: scripted teleop and MimicGen-style rollouts in robosuite, and image-to-video generation.

Importing the package sets the process defaults (MUJOCO_GL above all) before any of its modules imports
MuJoCo or the Hugging Face hub."""

from schemas.settings import use_process_defaults

use_process_defaults()
