"""What halb installs on the nodes besides the OCF agent: the alert agents."""
