"""RabbitMQ plumbing: topology, a publisher with confirms, a reliable consumer."""
