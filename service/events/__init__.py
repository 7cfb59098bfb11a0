"""Live events: the envelope, the bus (RabbitMQ or in-process), the hub and the producers."""
