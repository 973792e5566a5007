#!/usr/bin/env perl
# Measures Future::IO::Redis beside the other Perl clients from Debian
# (Redis::Fast, Redis.pm, AnyEvent::Redis) against one server, in one run,
# and prints ops/s and our ratio to each. Run it through script/bench,
# which starts a throw-away server; by hand:
#
#   perl -Mblib xt/bench/compare.pl [port] [scale]
#
# scale multiplies the operation counts (default 1: about a minute).
use strict;
use warnings;

use Time::HiRes qw(time);
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;

my $port  = shift // $ENV{FIOR_DEMO_PORT} // 6379;
my $scale = shift // 1;
my $loop  = IO::Async::Loop->new;

my %client
    = ( 'Future::IO::Redis' => Future::IO::Redis->new( host => '127.0.0.1', port => $port ) );
for my $class (qw(Redis::Fast Redis AnyEvent::Redis)) {
    next unless eval "require $class; 1";
    $client{$class}
        = $class eq 'AnyEvent::Redis'
        ? $class->new( host   => '127.0.0.1',       port      => $port )
        : $class->new( server => "127.0.0.1:$port", reconnect => 0 );
}
$client{'Future::IO::Redis'}->connect->get;

my $small = 'v' x 100;
my $mib   = join '', map { chr( $_ % 251 ) } 1 .. 1024 * 1024;
$client{'Future::IO::Redis'}->set( 'bench:k',   $small )->get;
$client{'Future::IO::Redis'}->set( 'bench:mib', $mib )->get;

# Each case: title, operation count, and per client a sub doing them all.
my @cases = (
    [
        'sequential GET (awaited one by one)',
        5000 * $scale,
        {
            'Future::IO::Redis' => sub { $_[0]->get('bench:k')->get  for 1 .. $_[1] },
            'Redis::Fast'       => sub { $_[0]->get('bench:k')       for 1 .. $_[1] },
            'Redis'             => sub { $_[0]->get('bench:k')       for 1 .. $_[1] },
            'AnyEvent::Redis'   => sub { $_[0]->get('bench:k')->recv for 1 .. $_[1] },
        }
    ],
    [
        'sequential SET',
        5000 * $scale,
        {
            'Future::IO::Redis' => sub { $_[0]->set( 'bench:s', $small )->get  for 1 .. $_[1] },
            'Redis::Fast'       => sub { $_[0]->set( 'bench:s', $small )       for 1 .. $_[1] },
            'Redis'             => sub { $_[0]->set( 'bench:s', $small )       for 1 .. $_[1] },
            'AnyEvent::Redis'   => sub { $_[0]->set( 'bench:s', $small )->recv for 1 .. $_[1] },
        }
    ],
    [
        '1000 concurrent GETs at a time',
        20000 * $scale,
        {
            'Future::IO::Redis' => sub {
                my ( $r, $n ) = @_;
                Future->needs_all( map { $r->get('bench:k') } 1 .. 1000 )->get for 1 .. $n / 1000;
            },
            'Redis::Fast'     => \&callbacks_then_wait,
            'Redis'           => \&callbacks_then_wait,
            'AnyEvent::Redis' => \&anyevent_concurrent,
        }
    ],
    [
        'pipeline of 1000 GETs',
        50000 * $scale,
        {
            'Future::IO::Redis' => sub {
                my ( $r, $n ) = @_;
                for ( 1 .. $n / 1000 ) {
                    my $p = $r->pipeline;
                    $p->get('bench:k') for 1 .. 1000;
                    $p->execute->get;
                }
            },
            'Redis::Fast'     => \&callbacks_then_wait,
            'Redis'           => \&callbacks_then_wait,
            'AnyEvent::Redis' => \&anyevent_concurrent,
        }
    ],
    [
        'MULTI, 10 INCRs, EXEC',
        20000 * $scale,
        {
            'Future::IO::Redis' => sub {
                my ( $r, $n ) = @_;
                for ( 1 .. $n / 10 ) {
                    $r->multi( sub { $_[0]->incr('bench:n') for 1 .. 10; return } )->get;
                }
            },
            'Redis::Fast'     => \&multi_sync,
            'Redis'           => \&multi_sync,
            'AnyEvent::Redis' => sub {
                my ( $r, $n ) = @_;
                for ( 1 .. $n / 10 ) {
                    $r->multi;
                    $r->incr('bench:n') for 1 .. 10;
                    $r->exec->recv;
                }
            },
        }
    ],
    [
        'pub/sub: messages received',
        20000 * $scale,
        {
            'Future::IO::Redis' => sub {
                my ( undef, $n ) = @_;
                my $r   = Future::IO::Redis->new( host => '127.0.0.1', port => $port );
                my $sub = $r->subscribe('bench:ch')->get;
                publish($n);
                $sub->next->get for 1 .. $n;
                $r->disconnect;
            },
            'Redis::Fast' => \&subscribe_sync,
            'Redis'       => \&subscribe_sync,

            # AnyEvent::Redis 0.24's subscribe loses its callback on a
            # second connection (dies in its reader): not measured.
        }
    ],
    [
        '1 MiB values: SET + GET',
        200 * $scale,
        {
            'Future::IO::Redis' => sub {
                my ( $r, $n ) = @_;
                for ( 1 .. $n / 2 ) { $r->set( 'bench:m', $mib )->get; $r->get('bench:mib')->get }
            },
            'Redis::Fast'     => \&mib_sync,
            'Redis'           => \&mib_sync,
            'AnyEvent::Redis' => sub {
                my ( $r, $n ) = @_;
                for ( 1 .. $n / 2 ) { $r->set( 'bench:m', $mib )->recv; $r->get('bench:mib')->recv }
            },
        }
    ],
);

# Redis.pm and Redis::Fast pipeline when given a callback.
sub callbacks_then_wait {
    my ( $r, $n ) = @_;
    for ( 1 .. $n / 1000 ) {
        $r->get( 'bench:k', sub { } ) for 1 .. 1000;
        $r->wait_all_responses;
    }
}

sub anyevent_concurrent {
    my ( $r, $n ) = @_;
    for ( 1 .. $n / 1000 ) {
        my $cv = AnyEvent->condvar;
        $cv->begin for 1 .. 1000;
        $r->get( 'bench:k', sub { $cv->end } ) for 1 .. 1000;
        $cv->recv;
    }
}

# The synchronous clients' MULTI: each command is a round trip.
sub multi_sync {
    my ( $r, $n ) = @_;
    for ( 1 .. $n / 10 ) {
        $r->multi;
        $r->incr('bench:n') for 1 .. 10;
        $r->exec;
    }
}

# Messages are published first (in pipelines, by our client), then each
# subscriber reads them all: the server keeps them meanwhile.
sub publish {
    my ($n) = @_;
    my $publisher = $client{'Future::IO::Redis'};
    for ( my $done = 0; $done < $n; $done += 1000 ) {
        my $p = $publisher->pipeline;
        $p->publish( 'bench:ch', "message $_" ) for $done + 1 .. $done + 1000;
        $p->execute->get;
    }
}

sub subscribe_sync {
    my ( $r, $n ) = @_;
    my $class = ref $r;
    my $s     = $class->new( server => "127.0.0.1:$port", reconnect => 0 );
    my $got   = 0;
    $s->subscribe( 'bench:ch', sub { $got++ } );
    publish($n);
    $s->wait_for_messages(1) while $got < $n;
    undef $s;    # closes it (QUIT is refused while subscribed)
}

sub mib_sync {
    my ( $r, $n ) = @_;
    for ( 1 .. $n / 2 ) { $r->set( 'bench:m', $mib ); $r->get('bench:mib') }
}

my @names = ( 'Future::IO::Redis', grep { $_ ne 'Future::IO::Redis' } sort keys %client );
printf "server 127.0.0.1:%d, perl %s, %s\n\n", $port,   $^V,     scalar localtime;
printf "%-36s%s\n",                            'ops/s', join '', map { sprintf '%19s', $_ } @names;
for my $case (@cases) {
    my ( $title, $ops, $code ) = @$case;
    my %rate;
    for my $name ( grep { $code->{$_} } @names ) {
        $code->{$name}->( $client{$name}, $ops / 10 );    # warm up
        my $t0 = time;
        $code->{$name}->( $client{$name}, $ops );
        $rate{$name} = $ops / ( time - $t0 );
    }

    # (A client without a way to do the case shows '-'.)
    printf "%-36s%s\n", $title,
        join '',
        map { defined $rate{$_} ? sprintf( '%19.0f', $rate{$_} ) : sprintf '%19s', '-' } @names;
    my $ours = $rate{'Future::IO::Redis'};
    printf "%-36s%s\n", '  Future::IO::Redis is x times', join '', map {
        sprintf '%19s', $_ eq 'Future::IO::Redis' || !defined $rate{$_}
            ? ''
            : sprintf( '%.2f', $ours / $rate{$_} )
    } @names;
}
$client{'Future::IO::Redis'}->del(qw(bench:k bench:s bench:m bench:mib bench:n))->get;
