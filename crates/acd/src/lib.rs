//! The agent manager (ACD): agent states, queues, skills, strategies and the traffic simulator. Sans-IO.
