"""KPIs: pure arithmetic over DataFrames (`arithmetic`) and the daily rows it reads (`daily_rows`)."""
